// Included first into every source of the extension and of nanobind (python/CMakeLists.txt).
// Under the stable ABI Python.h leaves <stdio.h> out, yet nanobind's headers call fprintf(stderr)
// and count on some other header to have declared it: libstdc++'s headers do, the libc++ that
// builds the wheels (zig) does not. Python.h comes first, as Python asks.
#pragma once
#include <Python.h>
#include <stdio.h>
