#include "config.h"
#include "testutil.h"
static Suite *s(void){return suite_create("x");}
TU_MAIN(s)
