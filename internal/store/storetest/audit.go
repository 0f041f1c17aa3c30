package storetest

// auditTests are the conformance cases of the audit role.
var auditTests = []testCase{}
