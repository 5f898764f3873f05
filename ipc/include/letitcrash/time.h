/* letitcrash: CLOCK_MONOTONIC in milliseconds; every deadline in the project is one of these. */
#ifndef LETITCRASH_TIME_H
#define LETITCRASH_TIME_H

#include <stdint.h>

#define LC_NEVER INT64_MAX

int64_t lc_now_ms(void);     /* CLOCK_MONOTONIC, ms */
int64_t lc_now_us(void);     /* CLOCK_MONOTONIC, us */
int64_t lc_wall_ms(void);    /* CLOCK_REALTIME, ms since the epoch */

#endif
