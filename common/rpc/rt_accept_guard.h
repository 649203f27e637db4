/* Keeps grpc's listener accepting whatever connections do to the process's
 * descriptors, and caps them.
 *
 * grpc 1.51 (Debian 12) stops listening for good the first time accept4
 * fails with anything but EAGAIN or EINTR: one EMFILE, when idle
 * connections have used up the descriptors, and the server never accepts
 * again, even after they close. rt_accept_guard.c defines accept4 in the
 * executable, which grpc's call binds to instead of libc's (ELF symbol
 * interposition), and makes sure grpc only ever sees a connection or
 * "nothing to accept". */
#ifndef RT_ACCEPT_GUARD_H
#define RT_ACCEPT_GUARD_H

/* From now on a connection accepted while descriptors 0..max_fd-1 are all
 * in use (descriptors are numbered lowest free first: that is what a number
 * >= max_fd means) is closed at once instead of being handed to grpc. Opens
 * the spare descriptor used when they run out. 0: no cap, EMFILE still
 * handled. */
void rt_accept_guard_set(int max_fd);

/* Connections refused so far (at the ceiling or out of descriptors). */
unsigned long rt_accept_guard_refused(void);

#endif
