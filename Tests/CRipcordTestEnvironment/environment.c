#include "CRipcordTestEnvironment.h"
#include <stdlib.h>

/* The tests run commands in parallel, and a command inherits `environ` as it is read at its spawn: a
   setenv adding a variable meanwhile may free the array being read. So the variables the tests need
   from "the controller's environment" are set here, before any test starts. */
__attribute__((constructor)) static void ripcord_test_environment(void) {
    setenv("RIPCORD_RUNNER_TEST_INHERITED", "from-the-controller", 1);
    setenv("RIPCORD_RUNNER_TEST_OVERRIDDEN", "old", 1);
    setenv("RIPCORD_DRIVER_TEST_TOKEN", "s3cr3t-value", 1);
}
