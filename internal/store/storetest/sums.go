package storetest

// sumsTests are the conformance cases of the sums role.
var sumsTests = []testCase{}
