package testenv

// UnderSanitizer is true when RSS says nothing: AddressSanitizer keeps
// freed memory in quarantine and the race detector never returns its
// shadow memory.
const UnderSanitizer = Race || ASan
