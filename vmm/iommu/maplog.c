// SPDX-License-Identifier: MIT
/*
 * maplog.c: the map log (maplog.h). Entries live in a sealed memfd; the
 * index (an iova_tree of nodes parallel to the entries) lives in private
 * memory and is rebuilt by maplog_open().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iommu.h"
#include "maplog.h"

struct maplog_node {
	struct iova_node n;
	uint32_t idx;		/* entry index */
};

struct maplog {
	int fd;
	size_t map_len;
	struct maplog_header *hdr;
	struct maplog_entry *e;
	uint64_t capacity;
	uint64_t count;		/* private copy of hdr->count */
	struct maplog_node *nodes;	/* [capacity], node i indexes entry i */
	size_t nodes_len;
	struct iova_tree tree;
};

static size_t log_bytes(uint64_t capacity)
{
	return MAPLOG_ENTRIES_OFFSET + capacity * sizeof(struct maplog_entry);
}

/* Map the memfd and reserve the node array; l->fd and capacity are set. */
static int log_map(struct maplog *l, int prot)
{
	l->map_len = log_bytes(l->capacity);
	l->hdr = mmap(NULL, l->map_len, prot, MAP_SHARED, l->fd, 0);
	if (l->hdr == MAP_FAILED) {
		l->hdr = NULL;
		return -errno;
	}
	l->e = (struct maplog_entry *)((uint8_t *)l->hdr + MAPLOG_ENTRIES_OFFSET);
	l->nodes_len = l->capacity * sizeof(*l->nodes);
	l->nodes = mmap(NULL, l->nodes_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (l->nodes == MAP_FAILED) {
		l->nodes = NULL;
		return -errno;
	}
	iova_tree_init(&l->tree);
	return 0;
}

void maplog_destroy(struct maplog *l)
{
	if (!l)
		return;
	if (l->nodes)
		munmap(l->nodes, l->nodes_len);
	if (l->hdr)
		munmap(l->hdr, l->map_len);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}

int maplog_create(uint64_t capacity, struct maplog **out)
{
	struct maplog *l;
	int ret;

	if (capacity == 0 || capacity > MAPLOG_MAX_CAP)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->capacity = capacity;
	l->fd = memfd_create("luvmm-maplog", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (l->fd < 0) {
		ret = -errno;
		goto err;
	}
	if (ftruncate(l->fd, (off_t)log_bytes(capacity)) < 0 ||
	    fcntl(l->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		ret = -errno;
		goto err;
	}
	ret = log_map(l, PROT_READ | PROT_WRITE);
	if (ret)
		goto err;
	l->hdr->magic = MAPLOG_MAGIC;
	l->hdr->version = MAPLOG_VERSION;
	l->hdr->entry_size = sizeof(struct maplog_entry);
	l->hdr->capacity = capacity;
	*out = l;
	return 0;
err:
	maplog_destroy(l);
	return ret;
}

int maplog_fd(const struct maplog *l)
{
	return l->fd;
}

uint64_t maplog_count(const struct maplog *l)
{
	return l->count;
}

bool maplog_full(const struct maplog *l)
{
	return l->count == l->capacity;
}

uint64_t maplog_changes(const struct maplog *l)
{
	return l->hdr->changes;
}

static int entry_check(const struct maplog_entry *e)
{
	if (!e->length || (e->iova | e->length | e->offset) & (IOPT_PAGE_SIZE - 1))
		return -EINVAL;
	if (e->iova >= IOPT_IOVA_END || e->length > IOPT_IOVA_END - e->iova)
		return -EINVAL;
	if (e->file != MAPLOG_FILE_RAM || !e->prot ||
	    (e->prot & ~(IOMMU_PROT_READ | IOMMU_PROT_WRITE)))
		return -EINVAL;
	return 0;
}

static int index_entry(struct maplog *l, uint32_t idx)
{
	struct maplog_node *n = &l->nodes[idx];

	n->idx = idx;
	n->n.first = l->e[idx].iova;
	n->n.last = l->e[idx].iova + l->e[idx].length - 1;
	return iova_tree_insert(&l->tree, &n->n);
}

int maplog_add(struct maplog *l, const struct maplog_entry *e)
{
	uint64_t i = l->count;
	int ret;

	ret = entry_check(e);
	if (ret)
		return ret;
	if (i == l->capacity)
		return -ENOSPC;
	if (iova_tree_first(&l->tree, e->iova, e->iova + e->length - 1))
		return -EEXIST;
	l->e[i] = *e;
	ret = index_entry(l, (uint32_t)i);
	if (ret)
		return ret;
	l->count = i + 1;
	atomic_store_explicit((_Atomic uint64_t *)&l->hdr->count, l->count,
			      memory_order_release);
	l->hdr->changes++;
	return 0;
}

int maplog_load(struct maplog *l, const struct maplog_entry *e, uint64_t n)
{
	struct iova_node **order;
	uint64_t i;
	int ret = 0;

	if (l->count)
		return -EBUSY;
	if (n > l->capacity)
		return -ENOSPC;
	for (i = 0; i < n && !ret; i++)
		ret = entry_check(&e[i]);
	if (ret)
		return ret;
	order = malloc((n ? n : 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct maplog_node *nd = &l->nodes[i];

		nd->idx = (uint32_t)i;
		nd->n.first = e[i].iova;
		nd->n.last = e[i].iova + e[i].length - 1;
		order[i] = &nd->n;
	}
	/* refuses unsorted or overlapping input before touching the log */
	ret = iova_tree_build(&l->tree, order, n);
	free(order);
	if (ret)
		return ret;
	if (n)
		memcpy(l->e, e, n * sizeof(*e));
	l->count = n;
	atomic_store_explicit((_Atomic uint64_t *)&l->hdr->count, l->count,
			      memory_order_release);
	l->hdr->changes += n;
	return 0;
}

/* Remove entry idx: the last entry moves into its place. */
static void drop_entry(struct maplog *l, uint32_t idx)
{
	uint32_t last = (uint32_t)(l->count - 1);

	iova_tree_remove(&l->tree, &l->nodes[idx].n);
	if (idx != last) {
		iova_tree_remove(&l->tree, &l->nodes[last].n);
		l->e[idx] = l->e[last];
		/* cannot fail: the range was in the tree a moment ago */
		(void)index_entry(l, idx);
	}
	memset(&l->e[last], 0, sizeof(l->e[last]));
	l->count = last;
	atomic_store_explicit((_Atomic uint64_t *)&l->hdr->count, l->count,
			      memory_order_release);
}

int maplog_remove(struct maplog *l, uint64_t iova, uint64_t length,
		  uint64_t *removed)
{
	struct iova_node *n;
	uint64_t last, bytes = 0;

	if (!length || iova + length - 1 < iova)
		return -EINVAL;
	last = iova + length - 1;
	/* check every area first: all or nothing */
	if (iova_tree_covered(&l->tree, iova, last, &bytes))
		return -ENOENT;
	while ((n = iova_tree_first(&l->tree, iova, last)))
		drop_entry(l, ((struct maplog_node *)n)->idx);
	l->hdr->changes++;
	if (removed)
		*removed = bytes;
	return 0;
}

int maplog_for_each(const struct maplog *l,
		    int (*fn)(void *arg, const struct maplog_entry *e), void *arg)
{
	const struct iova_node *n;
	int ret;

	for (n = iova_tree_first(&l->tree, 0, UINT64_MAX); n;
	     n = iova_tree_next(&l->tree, n)) {
		ret = fn(arg, &l->e[((const struct maplog_node *)n)->idx]);
		if (ret)
			return ret;
	}
	return 0;
}

/* Check a handed-over log's memfd and header; the count it holds. */
static int read_header(int fd, uint64_t *count, char *err, size_t errlen)
{
	struct maplog_header h;
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (fstat(fd, &st) < 0 || seals < 0 || !(seals & F_SEAL_SHRINK)) {
		snprintf(err, errlen, "map log: not a shrink-sealed memfd");
		return -EBADMSG;
	}
	if (st.st_size < MAPLOG_ENTRIES_OFFSET ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		snprintf(err, errlen, "map log: too short (%lld bytes)",
			 (long long)st.st_size);
		return -EBADMSG;
	}
	if (h.magic != MAPLOG_MAGIC || h.version != MAPLOG_VERSION ||
	    h.entry_size != sizeof(struct maplog_entry)) {
		snprintf(err, errlen, "map log: bad magic/version/entry size "
			 "(%#x/%u/%u)", h.magic, h.version, h.entry_size);
		return -EBADMSG;
	}
	if (!h.capacity || h.capacity > MAPLOG_MAX_CAP || h.count > h.capacity ||
	    (uint64_t)st.st_size < log_bytes(h.capacity)) {
		snprintf(err, errlen, "map log: count %llu / capacity %llu do "
			 "not fit its %lld bytes", (unsigned long long)h.count,
			 (unsigned long long)h.capacity, (long long)st.st_size);
		return -EBADMSG;
	}
	*count = h.count;
	return 0;
}

#define SORT_BITS	12	/* a 4096-bucket pass: 3 passes for 48-bit IOVAs */

/*
 * Checked entries (page-aligned IOVAs below IOPT_IOVA_END) into IOVA
 * order: an LSD radix sort on the page number, stable, O(n) per pass. On
 * 100k entries a few times faster than qsort(), which matters here: the
 * replay, and every vCPU waiting on the warm path, waits for it. *pe may
 * be replaced by another malloc()ed array. -ENOMEM leaves it unsorted.
 */
static int sort_by_iova(struct maplog_entry **pe, uint64_t n)
{
	struct maplog_entry *src = *pe, *dst, *t;
	uint64_t *pos, i, sum, c;
	unsigned shift, d;

	dst = malloc(n * sizeof(*dst));
	pos = malloc(sizeof(*pos) << SORT_BITS);
	if (!dst || !pos) {
		free(dst);
		free(pos);
		return -ENOMEM;
	}
	for (shift = 12; shift < IOPT_IOVA_BITS; shift += SORT_BITS) {
		memset(pos, 0, sizeof(*pos) << SORT_BITS);
		for (i = 0; i < n; i++)
			pos[(src[i].iova >> shift) & ((1u << SORT_BITS) - 1)]++;
		for (d = 0, sum = 0; d < 1u << SORT_BITS; d++) {
			c = pos[d];
			pos[d] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[pos[(src[i].iova >> shift) & ((1u << SORT_BITS) - 1)]++] = src[i];
		t = src, src = dst, dst = t;
	}
	free(dst);
	free(pos);
	*pe = src;
	return 0;
}

int maplog_read(int fd, uint64_t ram_bytes, struct maplog_entry **entries,
		uint64_t *n, char *err, size_t errlen)
{
	struct maplog_entry *e;
	uint64_t i, count;
	size_t bytes;
	int ret;

	ret = read_header(fd, &count, err, errlen);
	if (ret)
		return ret;
	bytes = count * sizeof(*e);
	e = malloc(bytes ? bytes : 1);
	if (!e)
		return -ENOMEM;
	/* one copy out of the shared pages, then only the copy is used */
	if (bytes && pread(fd, e, bytes, MAPLOG_ENTRIES_OFFSET) != (ssize_t)bytes) {
		snprintf(err, errlen, "map log: cannot read %llu entries",
			 (unsigned long long)count);
		ret = -EBADMSG;
		goto err;
	}
	for (i = 0; i < count; i++) {
		if (entry_check(&e[i]) || e[i].offset >= ram_bytes ||
		    e[i].length > ram_bytes - e[i].offset) {
			snprintf(err, errlen, "map log: entry %llu is invalid "
				 "(iova %#llx length %#llx offset %#llx file %u prot %u)",
				 (unsigned long long)i, (unsigned long long)e[i].iova,
				 (unsigned long long)e[i].length,
				 (unsigned long long)e[i].offset, e[i].file, e[i].prot);
			ret = -EBADMSG;
			goto err;
		}
	}
	/* a log written in IOVA order needs no sort */
	for (i = 1; i < count && e[i - 1].iova <= e[i].iova; i++)
		;
	if (i < count && sort_by_iova(&e, count)) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 1; i < count; i++) {
		if (e[i - 1].iova + e[i - 1].length > e[i].iova) {
			snprintf(err, errlen, "map log: mappings at %#llx and "
				 "%#llx overlap", (unsigned long long)e[i - 1].iova,
				 (unsigned long long)e[i].iova);
			ret = -EBADMSG;
			goto err;
		}
	}
	*entries = e;
	*n = count;
	return 0;
err:
	free(e);
	return ret;
}
