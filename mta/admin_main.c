/*
 * admin_main.c - main() of the sealpost administration command.
 */
#include "admin.h"

int
main(int argc, char **argv)
{
	return admin_main(argc, argv);
}
