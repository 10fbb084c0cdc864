// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The C++ half of test_defer_cxx (the kselftest harness is C only).
 * C++ exceptions thrown inside libstdc++ (std::vector::at) and caught by
 * the task, while the task is preempted every 20 us and the launcher
 * allocates and throws too: the unwinder walks from libstdc++ through the
 * caller's frames (the deferral stub is never on the stack) and the
 * deferral mark is stale once the exception is caught.
 */
#include <stdexcept>
#include <string>
#include <vector>
#include <unistd.h>

#include "defer_test.h"

#include "defer_cxx.h"

extern "C" void cxx_task(void *p)
{
	cxx_arg *a = static_cast<cxx_arg *>(p);
	std::vector<int> v(10, 1);
	kpf_stats s{};
	uint64_t before;

	s.size = sizeof(s);

	unsigned int i;

	for (i = 0; defer_test_more(i, a->rounds); i++) {
		try {
			v.at(10 + i % 5) = 2;
		} catch (const std::out_of_range &e) {
			a->caught++;
		}
		std::string str = "kpf " + std::to_string(i);
		a->strings += str.size();
		defer_test_compute(500);
	}
	a->done = i;
	/* after all those throws: still preemptible */
	kpf_thread_stats(&s);
	before = s.preemptions;
	for (int i = 0; i < 5000; i++) {
		defer_test_compute(1000000);
		kpf_thread_stats(&s);
		if (s.preemptions != before)
			break;
	}
	a->preempted_after = s.preemptions != before;
}

extern "C" void cxx_between(void *)
{
	std::vector<std::string> v(3, "launcher");
	volatile size_t five = 5;

	try {
		v.at(five) = "x";
	} catch (const std::out_of_range &) {
	}
}

extern "C" unsigned long cxx_expected_strings(unsigned int n)
{
	unsigned long sum = 0;

	for (unsigned int i = 0; i < n; i++)
		sum += 4 + std::to_string(i).size();
	return sum;
}
