/*
 * main.c: the `shelf` program: global options, command dispatch, help and
 * exit statuses.  One cmd_*.c per group of commands.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const char help_text[] =
"usage: shelf [-L DIR] [--json] [-q] COMMAND [ARGS]\n"
"\n"
"shelf keeps a library of samples: a catalog (SQLite) of typed metadata read\n"
"from the audio, tags, ratings and favourites, with files referenced in place\n"
"or copied into a content-addressed store.\n"
"\n"
"Library\n"
"  init [DIR]                 create a library (default: see -L)\n"
"  import [--copy] [--batch N] [-v] PATH...\n"
"                             add audio files and folders; re-running finds\n"
"                             changed, moved and missing files and resumes an\n"
"                             interrupted import; --copy keeps a copy in the\n"
"                             library's store; -v names every file\n"
"  stats                      counts and sizes of the library\n"
"\n"
"Browse\n"
"  ls [--sort [-]KEY] [-r] [--limit N] [--offset N] [--missing] [--fav]\n"
"                             list samples (alias: list); KEY: id name path\n"
"                             size length rate key bpm added used rating; a\n"
"                             leading - or -r/--reverse sorts descending\n"
"  search [--limit N] [--offset N] [--sort [-]KEY] [--check] QUERY...\n"
"                             words match by prefix in name, path, tags,\n"
"                             category and metadata; field:value filters (tag:\n"
"                             cat: format: rate: key: bpm: len: rating: fav:\n"
"                             added: used: ...), -negation, \"phrases\", OR,\n"
"                             (groups); see doc/query.md; best matches first;\n"
"                             first 50 unless --limit (0: all)\n"
"  info ID|PATH...            everything the catalog knows about a sample\n"
"  collection new NAME [QUERY] | add [--at N] NAME ID... | rm NAME ID... |\n"
"             delete NAME | ls | show NAME\n"
"                             manual collections (ordered lists) and saved\n"
"                             searches; search inside one with in:NAME\n"
"  synonyms [ls] | add WORD WORD... | rm WORD\n"
"                             words that find each other (kick = bd)\n"
"  dupes [--bytes] [--audio] [--name]\n"
"                             identical files, the same audio in other files\n"
"                             or encodings, the same name with other sound\n"
"\n"
"Edit\n"
"  tag add|rm ID|PATH TAG...  add or remove tags\n"
"  rate ID|PATH 0-5           rate a sample (0 clears)\n"
"  fav [--off] ID|PATH...     mark (or unmark) favourites\n"
"  touch ID|PATH...           record that a sample was auditioned now\n"
"  rm [--force] ID|PATH...    remove from the catalog (files stay; a managed\n"
"                             copy nobody else uses is deleted); a sample a\n"
"                             patch or project uses needs --force\n"
"\n"
"Patches and projects (documents with a version history; doc/documents.md)\n"
"  patch import [--copy] [--allow-missing] [--format F] FILE...\n"
"                             SFZ, Hydrogen drumkit.xml, ZynAddSubFX .xiz, LMMS\n"
"                             .xpf, Decent Sampler .dspreset or shelf .json; the\n"
"                             samples they use are imported too\n"
"  patch new NAME [--author A] [--category C] | new --file DOC.json\n"
"  patch show ID[@VER]        a version (default: the head); VER is a number\n"
"                             or a hash prefix; --json prints the document\n"
"  patch set ID PATH=VALUE... [--rm PATH] [-m MSG]\n"
"                             change values (PATH like params/filter/cutoff;\n"
"                             tags+=T, tags-=T); checked against the types\n"
"  patch edit ID[@VER] [--file F|-] [-m MSG]\n"
"                             edit in $EDITOR (or take F); from an older\n"
"                             version it starts a branch\n"
"  patch ls | rm ID... | touch ID... | history ID | diff ID[@A] [B] |\n"
"        revert ID VER        touch records use (last_used)\n"
"  patch merge ID VER [--ours[=PATH]] [--theirs[=PATH]] [--set PATH=VALUE]\n"
"                             [--preview]   three-way merge of VER into the\n"
"                             head; conflicts are listed and nothing changes\n"
"                             until each is resolved\n"
"  patch export ID[@VER] OUT.sfz | ID OUT.json\n"
"                             SFZ with the samples copied next to it, or the\n"
"                             whole version history (import takes it back)\n"
"  project new NAME [--tempo BPM] | add ID ITEM... | drop ID ITEM... |\n"
"          show | set | edit | ls | rm | history | diff | revert | merge |\n"
"          export ID OUT.json | import HISTORY.json\n"
"                             ITEM: patch:ID, sample:ID, a sample id or path\n"
"  automation add PROJECT TARGET TIME:VALUE... [--start S] [--duration S]\n"
"             [--curve] | show PROJECT [LANE]\n"
"  refs ID|PATH|patch:ID|project:ID\n"
"                             what an item uses and what uses it\n"
"  undo                       undo the newest change to a patch or project\n"
"                             (as a new version); again to go further back\n"
"\n"
"Backup (doc/disaster-recovery.md; TARGET: a folder such as a USB stick; it may\n"
"also come from -r TARGET or $SHELF_REPOSITORY; password: --password-file F,\n"
"$SHELF_PASSWORD, or a prompt)\n"
"  backup init [--no-encryption] [--kdf-cost N] TARGET\n"
"                             create a repository (encrypted unless told)\n"
"  backup [--full|--incremental|--differential] [--tag T] TARGET\n"
"                             snapshot the library: catalog, blobs, referenced\n"
"                             samples; incremental (default) stores what changed\n"
"                             since the last snapshot, differential since the\n"
"                             last full, full everything again\n"
"  backup list|show SNAP|diff SNAP1 SNAP2 TARGET...\n"
"                             snapshots (type, base, size added, which ones a\n"
"                             restore reads), items, changes\n"
"  backup check [--read-data | --read-data-subset N%] TARGET\n"
"                             names the snapshots and items a damaged file hits\n"
"  backup forget [--keep-last N] [--keep-daily N] [--keep-weekly N]\n"
"                [--keep-monthly N] [--dry-run] [--prune] TARGET\n"
"  backup prune [--dry-run] TARGET\n"
"                             remove data no snapshot needs (crash-safe)\n"
"  backup test-restore TARGET [SNAP]\n"
"                             restore into a temporary folder, re-hash all\n"
"  backup key list|add|rm ID TARGET\n"
"                             passwords (key files) of a repository\n"
"  restore TARGET SNAP [ITEM...|--query Q] [--preview] [--on-conflict P]\n"
"          [--to DIR [--files-to-original]]\n"
"                             the whole library, or samples (ID), patch:ID,\n"
"                             project:ID (with their samples); P: overwrite,\n"
"                             keep-both, skip, ask; --to: into an empty folder\n"
"  log [--limit N]            the audit log (restores, merges)\n"
"\n"
"Archive (BagIt bags for the long term; doc/formats.md, Archives)\n"
"  archive export (--project ID | --patch ID | --query Q | --all)...\n"
"         OUT.tar|OUT.tar.zst|OUT.zip [--parity N%] [--sync]\n"
"                             items with their samples, catalog metadata and\n"
"                             version histories; SHA-256 + SHA-512 manifests;\n"
"                             --parity writes PAR2 files par2cmdline reads\n"
"  archive verify ARCHIVE     every checksum, and the parity files beside it;\n"
"                             exit 16 + 1 missing | 2 unlisted | 4 corrupt |\n"
"                             8 repairable from the parity\n"
"  archive import ARCHIVE [--preview] [--on-conflict skip|overwrite|keep-both|ask]\n"
"                             check everything first (unsafe archives are\n"
"                             refused), repair from parity, then import;\n"
"                             damage: exit 16+ as verify, nothing imported\n"
"  export-media DIR [--query Q] [--max-per-dir N] [--fat] [--patches] [--sync]\n"
"                             samples for a workstation's card: balanced\n"
"                             shard folders (A-C, D-F...) of at most N files\n"
"                             (256), DIR/index of names, tags and paths;\n"
"                             --fat: FAT-safe names; a re-run writes only\n"
"                             what changed and deletes what is gone;\n"
"                             --patches: every patch whose samples are on\n"
"                             the card as DIR/PATCHES/NAME.sfz\n"
"\n"
"Maintenance\n"
"  verify                     re-hash every file and blob; report missing,\n"
"                             changed and corrupt ones\n"
"  gc [--dry-run] [--wait]    delete unreferenced blobs and crash leftovers\n"
"  vacuum [--wait]            compact the catalog; reports space reclaimed\n"
"  db-backup FILE             consistent copy of the catalog while in use\n"
"\n"
"Streaming (doc/streaming.md)\n"
"  stream stress [--voices N | --ramp] [--duration S] [--block 128] [--rate 48000]\n"
"             [--cold] [--inject-errors RATE] [--inject-latency MS@RATE]\n"
"             [--out DIR] [--dir FOLDER | --query Q | ID...]\n"
"                             play a seeded note script from disk, paced in\n"
"                             real time; per-second CSV and PNG in --out;\n"
"                             --ramp finds the highest clean polyphony\n"
"  stream render [--ram] [--check] SCRIPT OUT.wav\n"
"                             render a note script offline (streamed and RAM\n"
"                             renders are bit-identical; --check proves it)\n"
"  cache pin|unpin ID|PATH... | stats [--load] [--budget MB]\n"
"                             samples kept whole in RAM while performing\n"
"  store frag [ID|PATH...]    fragmentation (extents) of sample files\n"
"  store optimize [--min N] [--dry-run] [ID|PATH...]\n"
"                             rewrite fragmented files contiguously (same\n"
"                             bytes and mtime, atomic rename)\n"
"\n"
"  help                       this text;  version: the version\n"
"\n"
"Options\n"
"  -L, --library DIR  the library folder; default $SHELF_LIBRARY, else\n"
"                     $XDG_DATA_HOME/shelf, else ~/.local/share/shelf\n"
"  --json             machine-readable output (every command that prints)\n"
"  -q, --quiet        no progress and no summary\n"
"\n"
"Exit status\n"
"  0    success\n"
"  1    the command failed (the message says what, on what)\n"
"  2    usage: bad option or argument (also an invalid tag or rating)\n"
"  3    not found: no such library, sample or file\n"
"       (commands on several samples exit with the last failure's status)\n"
"  4    import finished, but some files could not be imported\n"
"  5    the library is busy (another process holds its lock)\n"
"  6    the library was written by a newer shelf\n"
"  7    merge: conflicts left unresolved; nothing was changed\n"
"  8    wrong or missing password (backup repositories)\n"
"  9    backup finished, but some samples could not be read (named; not in\n"
"       the snapshot)\n"
"  16+  verify found problems: 16 + 1 (missing) + 2 (changed) + 4 (corrupt)\n"
"       archive verify/import: 16 + 1 (missing) + 2 (unlisted) + 4 (corrupt)\n"
"       + 8 (repairable from the parity files)\n"
"  130  interrupted; work done so far is kept\n";

volatile int cli_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("shelf: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exit_for(int rc)
{
    switch (rc) {
    case SHELF_OK: case SHELF_ROW: case SHELF_DONE: return EXIT_OK;
    case SHELF_EINVAL: return EXIT_USAGE;
    case SHELF_ENOTFOUND: return EXIT_NOTFOUND;
    case SHELF_EBUSY: return EXIT_BUSY;
    case SHELF_EVERSION: return EXIT_VERSION;
    case SHELF_ECANCELED: return EXIT_INTERRUPTED;
    case SHELF_ECONFLICT: return EXIT_CONFLICT;
    case SHELF_EAUTH: return EXIT_AUTH;
    }
    return EXIT_FAIL;
}

int cli_fail(shelf_library *lib, int rc)
{
    if (rc == SHELF_ECANCELED)
        cli_error("interrupted; work done so far is kept");
    else
        cli_error("%s", shelf_errmsg(lib));
    return cli_exit_for(rc);
}

int cli_open(const cli *c, int flags, shelf_library **lib)
{
    char dir[4096], *msg = NULL;
    int rc;

    if (c->library)
        snprintf(dir, sizeof dir, "%s", c->library);
    else if (shelf_default_dir(dir, sizeof dir) != SHELF_OK) {
        cli_error("no library folder: use -L DIR or set SHELF_LIBRARY");
        return EXIT_USAGE;
    }
    rc = shelf_library_open(dir, flags, lib, &msg);
    if (rc != SHELF_OK) {
        if (rc == SHELF_ENOTFOUND)
            cli_error("%s (create one with 'shelf init')", msg ? msg : shelf_strerror(rc));
        else
            cli_error("%s", msg ? msg : shelf_strerror(rc));
        shelf_free(msg);
        return cli_exit_for(rc);
    }
    return EXIT_OK;
}

int64_t cli_parse_id(const char *s)
{
    char *end;
    long long v;

    if (!*s || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return 0;
    return (int64_t)v;
}

int cli_resolve(shelf_library *lib, const char *arg, int64_t *id)
{
    int rc;

    /* A number names an id, unless a file of that name is there. */
    if ((*id = cli_parse_id(arg)) != 0 && access(arg, F_OK) != 0)
        return EXIT_OK;
    if ((rc = shelf_catalog_find_path(lib, arg, id)) != SHELF_OK)
        return cli_fail(lib, rc);
    return EXIT_OK;
}

static const struct command {
    const char *name;
    int (*run)(const cli *c, int argc, char **argv);
} commands[] = {
    { "init", cmd_init }, { "import", cmd_import }, { "info", cmd_info },
    { "ls", cmd_ls }, { "list", cmd_ls }, { "search", cmd_search }, { "tag", cmd_tag },
    { "rate", cmd_rate }, { "fav", cmd_fav }, { "touch", cmd_touch }, { "rm", cmd_rm },
    { "verify", cmd_verify }, { "gc", cmd_gc }, { "vacuum", cmd_vacuum },
    { "db-backup", cmd_db_backup }, { "stats", cmd_stats }, { "collection", cmd_collection },
    { "synonyms", cmd_synonyms }, { "dupes", cmd_dupes },
    { "stream", cmd_stream }, { "cache", cmd_cache }, { "store", cmd_store },
    { "patch", cmd_patch }, { "project", cmd_project }, { "automation", cmd_automation },
    { "refs", cmd_refs }, { "undo", cmd_undo },
    { "archive", cmd_archive }, { "export-media", cmd_archive },
    { "backup", cmd_backup }, { "restore", cmd_restore }, { "log", cmd_log },
};

int main(int argc, char **argv)
{
    cli c = { NULL, 0, 0, 0 };
    char **args = calloc((size_t)argc + 1, sizeof *args);
    int n = 0, i, rc;
    size_t k;

    if (!args)
        return EXIT_FAIL;
    /* Global options may stand anywhere before "--". */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--")) {
            while (i < argc)
                args[n++] = argv[i++];
            break;
        } else if (!strcmp(a, "-L") || !strcmp(a, "--library")) {
            if (i + 1 >= argc) {
                cli_error("option '%s' needs a folder", a);
                free(args);
                return EXIT_USAGE;
            }
            c.library = argv[++i];
        } else if (!strncmp(a, "--library=", 10)) {
            c.library = a + 10;
        } else if (!strncmp(a, "-L", 2)) {
            c.library = a + 2;
        } else if (!strcmp(a, "--json")) {
            c.json = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            c.quiet = 1;
        } else {
            args[n++] = argv[i];
        }
    }
    c.tty = isatty(2) && !c.quiet && !c.json;
    if (n == 0) {
        fputs(help_text, stderr);
        free(args);
        return EXIT_USAGE;
    }
    if (!strcmp(args[0], "help") || !strcmp(args[0], "--help") || !strcmp(args[0], "-h")) {
        fputs(help_text, stdout);
        free(args);
        return EXIT_OK;
    }
    if (!strcmp(args[0], "version") || !strcmp(args[0], "--version")) {
        printf("shelf %s\n", shelf_version());
        free(args);
        return EXIT_OK;
    }
    for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(args[0], commands[k].name)) {
            rc = commands[k].run(&c, n, args);
            free(args);
            return rc;
        }
    cli_error("unknown command '%s' (see 'shelf help')", args[0]);
    free(args);
    return EXIT_USAGE;
}
