// Linux interfaces that Swift's Glibc module does not include: epoll, which the event loops wait on,
// eventfd, which wakes a loop from another thread, memmem (a GNU extension), which finds a
// multipart body's boundaries in linear time, and glibc's malloc_trim, which gives freed memory back to
// the system after a peak of requests.
#include <malloc.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

void *memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length);
