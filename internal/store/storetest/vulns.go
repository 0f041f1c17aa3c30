package storetest

// vulnTests are the conformance cases of the vulns role.
var vulnTests = []testCase{}
