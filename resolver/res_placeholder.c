/* placeholder so the library has a source until its module lands; delete when adding real files */
typedef int sealpost_placeholder_unused;
