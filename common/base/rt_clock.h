/* Absolute times for pthread_cond_timedwait and the like. */
#ifndef RT_CLOCK_H
#define RT_CLOCK_H

#include <time.h>

/* The time ms milliseconds from now on clock (the clock the condition
 * variable waits on: CLOCK_REALTIME unless its attributes chose another). */
struct timespec rt_clock_after_ms(clockid_t clock, long ms);

#endif
