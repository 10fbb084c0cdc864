#!/bin/sh
# build every probe against build/ulib (make ulib first)
cd "$(dirname "$0")" && U=$(cd ../../build/ulib && pwd)
for f in p*.c; do b=${f%.c}; [ "$b" = p12_preload_wrap ] && continue
  cc -O2 -g -D_GNU_SOURCE -I../../include -o $b $f -L$U -Wl,-rpath,$U -lkpf -lpthread -lrt || echo "FAILED $f"
done
cc -O2 -D_GNU_SOURCE -DWITH_KPF -I../../include -o p7_cost_kpf p7_cost.c -L$U -Wl,-rpath,$U -lkpf -lpthread
cc -O2 -D_GNU_SOURCE -o p7_cost_glibc p7_cost.c -lpthread
cc -O2 -D_GNU_SOURCE -I../../include -static -o p3_static p3_static.c $U/libkpf.a -lpthread
cc -shared -fPIC -O2 -o p12_preload_wrap.so p12_preload_wrap.c -ldl
cc -O2 -D_GNU_SOURCE -DWITH_KPF -I../../include -o p13_sigaction_table p13_sigaction_table.c -L$U -Wl,-rpath,$U -lkpf -lpthread
cc -O2 -D_GNU_SOURCE -o p13_sigaction_table_glibc p13_sigaction_table.c -lpthread
cc -O2 -D_GNU_SOURCE -I../../include -o p14_sigaction_race p14_sigaction_race.c -L$U -Wl,-rpath,$U -lkpf -lpthread
cc -O2 -D_GNU_SOURCE -DWITH_KPF -I../../include -o p15_signal_cost_kpf p15_signal_cost.c -L$U -Wl,-rpath,$U -lkpf -lpthread
cc -O2 -D_GNU_SOURCE -o p15_signal_cost_glibc p15_signal_cost.c
cc -O2 -D_GNU_SOURCE -I../../include -o p16_siglongjmp_task p16_siglongjmp_task.c -L$U -Wl,-rpath,$U -lkpf -lpthread
cc -O2 -D_GNU_SOURCE -o p17_handler_old_mask p17_handler_old_mask.c -L$U -Wl,-rpath,$U -lkpf -lpthread
