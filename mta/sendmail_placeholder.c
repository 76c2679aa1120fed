/* placeholder so the library has a source; delete when adding real files */
typedef int sealpost_placeholder_unused;
