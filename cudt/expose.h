// How the shim reads UDT 4.11's private members (watch.cpp, firewall.cpp).
//
// C++ lets an explicit instantiation name private members ([temp.spec]/6:
// access checking does not apply to its arguments), which is how they are
// reached without a copy of UDT's class definitions or any preprocessor
// trick: the installed headers are the ones the pinned libudt.a was built
// from. Each file names the members it reads with a tag and instantiates
// Expose once per tag; member(Tag()) then yields the member pointer. The
// members several files read are named here, at the end.
#ifndef CUDT_EXPOSE_H
#define CUDT_EXPOSE_H

#include <pthread.h>

#include <map>

#include <udt/api.h>
#include <udt/buffer.h>
#include <udt/core.h>

namespace {

template <typename Tag, typename Tag::type M>
struct Expose {
	friend typename Tag::type member(Tag) { return M; }
};

}  // namespace

// A tag names one member and its type for Expose; CUDT_FIELD is a data
// member of CUDT.
#define CUDT_TAG(Tag, T)               \
	struct Tag {                   \
		typedef T type;         \
		friend type member(Tag); \
	}
#define CUDT_FIELD(Tag, T) CUDT_TAG(Tag, T CUDT::*)

// The members several files read, declared once. Like Expose they sit in an
// unnamed namespace, so each file has its own tags and instantiations and
// nothing is defined twice across the link.
namespace {

typedef std::map<UDTSOCKET, CUDTSocket*> SocketMap;
CUDT_TAG(United, CUDTUnited*);
CUDT_TAG(ControlLock, pthread_mutex_t CUDTUnited::*);
CUDT_FIELD(Connected, volatile bool);
CUDT_FIELD(SockType, UDTSockType);
CUDT_FIELD(RcvBuffer, CRcvBuffer*);
CUDT_FIELD(RcvQueue, CRcvQueue*);
typedef CUDTSocket* (CUDTUnited::*LocateFn)(const UDTSOCKET);
CUDT_TAG(Locate, LocateFn);
CUDT_TAG(Sockets, SocketMap CUDTUnited::*);
template struct Expose<United, &CUDT::s_UDTUnited>;
template struct Expose<ControlLock, &CUDTUnited::m_ControlLock>;
template struct Expose<Connected, &CUDT::m_bConnected>;
template struct Expose<SockType, &CUDT::m_iSockType>;
template struct Expose<RcvBuffer, &CUDT::m_pRcvBuffer>;
template struct Expose<RcvQueue, &CUDT::m_pRcvQueue>;
template struct Expose<Locate, &CUDTUnited::locate>;
template struct Expose<Sockets, &CUDTUnited::m_Sockets>;

// find_in runs f on the CUDT of u while u is in UDT's map which (its open
// or its closed sockets), under UDT's lock, which its garbage collector
// holds to delete a socket: u's objects stay alive for the call. False if
// u is not there.
template <typename F>
bool find_in(SocketMap CUDTUnited::*which, int u, F f) {
	CUDTUnited* un = member(United());
	pthread_mutex_t* mu = &(un->*member(ControlLock()));
	SocketMap& m = un->*which;
	bool found = false;
	pthread_mutex_lock(mu);
	SocketMap::iterator it = m.find(u);
	if (it != m.end() && it->second->m_pUDT != NULL) {
		f(it->second->m_pUDT);
		found = true;
	}
	pthread_mutex_unlock(mu);
	return found;
}

// open_find is find_in for the open sockets.
template <typename F>
bool open_find(int u, F f) {
	return find_in(member(Sockets()), u, f);
}

}  // namespace

#endif
