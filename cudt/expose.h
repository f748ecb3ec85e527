// How the shim reads UDT 4.11's private members (watch.cpp, firewall.cpp).
//
// C++ lets an explicit instantiation name private members ([temp.spec]/6:
// access checking does not apply to its arguments), which is how they are
// reached without a copy of UDT's class definitions or any preprocessor
// trick: the installed headers are the ones the pinned libudt.a was built
// from. Each file names the members it reads with a tag and instantiates
// Expose once per tag; member(Tag()) then yields the member pointer.
#ifndef CUDT_EXPOSE_H
#define CUDT_EXPOSE_H

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

#endif
