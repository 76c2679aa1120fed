/*
 * admin.h - the sealpost administration command's entry point.
 */
#ifndef SEALPOST_ADMIN_H
#define SEALPOST_ADMIN_H

/* Everything main() does; returns a sysexits.h code. */
int admin_main(int argc, char **argv);

#endif
