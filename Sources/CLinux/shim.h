// Linux interfaces that Swift's Glibc module does not include: epoll, which the event loops wait on,
// and eventfd, which wakes a loop from another thread.
#include <sys/epoll.h>
#include <sys/eventfd.h>
