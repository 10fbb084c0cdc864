#!/bin/sh
# build every probe against build/ulib (make ulib first)
cd "$(dirname "$0")" && U=$(cd ../../build/ulib && pwd)
for f in p*.c; do b=${f%.c}
  cc -O2 -g -D_GNU_SOURCE -I../../include -o $b $f -L$U -Wl,-rpath,$U -lkpf -lpthread -lrt || echo "FAILED $f"
done
