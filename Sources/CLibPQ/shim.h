#ifndef WARDEN_CLIBPQ_SHIM_H
#define WARDEN_CLIBPQ_SHIM_H
// libpq, PostgreSQL's client library (Debian libpq-dev), and poll(2) to wait on its socket.
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <postgresql/libpq-fe.h>
#endif
