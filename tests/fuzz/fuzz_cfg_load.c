/*
 * fuzz_cfg_load.c - cfg_load (config/config.h) end to end on a real file:
 * read with its size limit, the cfg_prescan pre-pass, libconfuse's lexer
 * and parser, the per-key callbacks, the cross-key checks and the error
 * formatting.  The input is written to one temporary file per process
 * (rewritten each run; cheap on tmpfs or the page cache).
 *
 * Checked: an error comes back as a non-empty "path:..." message, and a
 * successful load respects the struct's documented limits.
 *
 * A config without myhostname makes cfg_load ask gethostname() and the
 * system resolver for our name.  That is environment, not input, and
 * slow, so the harness adds "myhostname = fuzz.example" at the top when
 * the input never mentions myhostname.
 */
#include <fcntl.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "config/cfg_int.h"
#include "config/config.h"

static char dir[64];
static char path[96];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/sp-fuzz-XXXXXX",
	    tmp != NULL && tmp[0] == '/' && strlen(tmp) < 40 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/sealpost.conf", dir);
	atexit(cleanup);
	return 0;
}

static void
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			perror("write");
			abort();
		}
		c += w;
		n -= (size_t)w;
	}
}

static int
mentions(const uint8_t *data, size_t size, const char *word)
{
	size_t n = strlen(word), i;

	for (i = 0; i + n <= size; i++)
		if (memcmp(data + i, word, n) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char ours[] = "myhostname = fuzz.example\n";
	struct sealpost_config *cfg;
	char err[512];
	size_t i;
	int fd;

	if (size > CFG_MAX_FILE_BYTES + 16)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		abort();
	}
	if (!mentions(data, size, "myhostname"))
		write_all(fd, ours, sizeof(ours) - 1);
	write_all(fd, data, size);
	close(fd);

	memset(err, 'x', sizeof(err));
	cfg = cfg_load(path, err, sizeof(err));
	if (cfg == NULL) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
		return 0;
	}
	FUZZ_CHECK(cfg->path != NULL && strcmp(cfg->path, path) == 0);
	FUZZ_CHECK(cfg->spool_directory != NULL &&
	    cfg->spool_directory[0] == '/');
	FUZZ_CHECK(cfg->myhostname != NULL &&
	    cfg_val_hostname(cfg->myhostname) == 0);
	FUZZ_CHECK(cfg->maximal_backoff >= cfg->minimal_backoff);
	FUZZ_CHECK(cfg->relay.port != 0);
	FUZZ_CHECK(cfg->resolver.nforwarders <= CFG_MAX_LIST_ITEMS);
	FUZZ_CHECK(cfg->resolver.nunbound_options <= CFG_MAX_LIST_ITEMS);
	for (i = 0; i < cfg->resolver.nforwarders; i++)
		FUZZ_CHECK(cfg_val_forwarder(cfg->resolver.forwarders[i]) == 0);
	for (i = 0; i < cfg->resolver.nunbound_options; i++)
		FUZZ_CHECK(cfg_val_unbound_option(
		    cfg->resolver.unbound_options[i]) == 0);
	if (cfg->relay.host != NULL)
		FUZZ_CHECK(cfg->relay.host[0] != '\0');
	cfg_free(cfg);
	return 0;
}
