// SPDX-License-Identifier: MIT
/*
 * iopt.c: I/O page tables. Owns the builder (map/unmap with the
 * largest-leaf rule), the walkers (translate, for_each_leaf, compare), root
 * words, and the memfd table pool. The format and every rule here are in
 * docs/iommu-pagetables.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iopt.h"

#define PTE_RW		(IOPT_PTE_R | IOPT_PTE_W)
#define IDX_MASK	(IOPT_ENTRIES - 1)

static inline unsigned int lvl_shift(int level)
{
	return 12 + 9 * (unsigned int)(level - 1);
}

static inline uint64_t lvl_size(int level)
{
	return 1ULL << lvl_shift(level);
}

static inline unsigned int lvl_idx(uint64_t iova, int level)
{
	return (unsigned int)(iova >> lvl_shift(level)) & IDX_MASK;
}

/* Entries are shared with walkers in other threads/processes: whole-word
 * accesses only. Relaxed is enough except where a table gets linked. */
static inline uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void st(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

enum ent { E_NONE, E_LEAF, E_TABLE, E_BAD };

static inline enum ent classify(uint64_t e, int level)
{
	if (!(e & PTE_RW))
		return E_NONE;
	if (e & IOPT_PTE_RSVD)
		return E_BAD;
	if (!(e & IOPT_PTE_PS)) {
		if (level == 1)
			return E_LEAF;
		/* a table pointer always carries both bits */
		return (e & PTE_RW) == PTE_RW ? E_TABLE : E_BAD;
	}
	if (level == 1 || level == IOPT_LEVELS ||
	    (e & IOPT_PTE_ADDR & (lvl_size(level) - 1)))
		return E_BAD;
	return E_LEAF;
}

static void leaf_of(uint64_t e, int level, uint64_t iova, struct iopt_leaf *l)
{
	l->size = lvl_size(level);
	l->iova = iova & ~(l->size - 1);
	l->pa = e & IOPT_PTE_ADDR;
	l->prot = (unsigned int)(e & PTE_RW);
}

static bool range_ok(uint64_t iova, uint64_t len)
{
	return len && IS_ALIGNED(iova | len, IOPT_PAGE_SIZE) &&
	       iova < IOPT_IOVA_END && len <= IOPT_IOVA_END - iova;
}

static void *pool_ptr(void *ctx, uint64_t pa, size_t len);

static inline uint64_t *tbl_at(const struct iopt_mem_ops *ops, void *ctx,
			       uint64_t pa)
{
	/* a walk is 4 of these: call the pool's resolver directly */
	if (likely(ops == &iopt_pool_ops))
		return pool_ptr(ctx, pa, IOPT_PAGE_SIZE);
	return ops->ptr(ctx, pa, IOPT_PAGE_SIZE);
}

/*
 * The walk from the table at tbl_pa (at level) to the leaf for iova: at
 * most `level` reads. Bounded whatever the tables hold: each step goes one
 * level down.
 */
static int walk(const struct iopt_mem_ops *ops, void *ctx, uint64_t tbl_pa,
		int level, uint64_t iova, struct iopt_xlate *out)
{
	uint64_t e = 0;

	for (;; level--) {
		const uint64_t *tbl = tbl_at(ops, ctx, tbl_pa);

		out->level = level;
		if (unlikely(!tbl)) {
			out->pte = e;	/* the entry that pointed here */
			return -EFAULT;
		}
		e = __atomic_load_n(&tbl[lvl_idx(iova, level)],
				    __ATOMIC_ACQUIRE);
		out->pte = e;
		switch (classify(e, level)) {
		case E_TABLE:
			tbl_pa = e & IOPT_PTE_ADDR;
			continue;
		case E_LEAF:
			out->size = lvl_size(level);
			out->pa = (e & IOPT_PTE_ADDR) | (iova & (out->size - 1));
			out->prot = (unsigned int)(e & PTE_RW);
			return 0;
		case E_NONE:
			return -ENOENT;
		default:
			return -EBADMSG;
		}
	}
}

int iopt_translate(const struct iopt_tree *tr, uint64_t iova,
		   unsigned int access, struct iopt_xlate *out)
{
	int ret;

	if (unlikely(!access || (access & ~IOPT_PROT_RW)))
		return -EINVAL;
	out->level = IOPT_LEVELS;
	out->pte = 0;
	if (unlikely(iova >= IOPT_IOVA_END))
		return -ERANGE;
	if (unlikely(tr->root & ~IOPT_PTE_ADDR))
		return -EFAULT;
	ret = walk(tr->ops, tr->ctx, tr->root, IOPT_LEVELS, iova, out);
	if (likely(!ret) && unlikely(access & ~out->prot))
		return -EACCES;
	return ret;
}

/* ---- builder ---------------------------------------------------------- */

struct iopt {
	const struct iopt_mem_ops *ops;
	void *ctx;
	uint32_t flags;
	int max_leaf;		/* highest level a leaf may sit at: 1..3 */
	uint64_t root;
	uint64_t *root_tbl;
	uint64_t *hot;		/* level-1 table map() last filled, or NULL */
	uint64_t hot_key;	/* its IOVA >> 21 */
	struct iopt_stats st;
	uint64_t *deferred;	/* PAs of unlinked tables (IOPT_F_DEFER_FREE) */
	size_t ndeferred;
	size_t cap_deferred;
};

static uint64_t *t_ptr(const struct iopt *t, uint64_t e)
{
	return tbl_at(t->ops, t->ctx, e & IOPT_PTE_ADDR);
}

int iopt_create(const struct iopt_mem_ops *ops, void *ctx, uint32_t flags,
		struct iopt **out)
{
	struct iopt *t;
	void *root;
	int ret;

	if (!ops || !ops->ptr || !ops->alloc_table || !ops->free_table || !out)
		return -EINVAL;
	if (flags & ~(IOPT_F_MAX_4K | IOPT_F_MAX_2M | IOPT_F_DEFER_FREE))
		return -EINVAL;
	if ((flags & IOPT_F_MAX_4K) && (flags & IOPT_F_MAX_2M))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ops = ops;
	t->ctx = ctx;
	t->flags = flags;
	t->max_leaf = flags & IOPT_F_MAX_4K ? 1 : flags & IOPT_F_MAX_2M ? 2 : 3;
	ret = ops->alloc_table(ctx, &t->root, &root);
	if (ret) {
		free(t);
		return ret;
	}
	t->root_tbl = root;
	t->st.tables = 1;
	*out = t;
	return 0;
}

uint64_t iopt_root(const struct iopt *t)
{
	return t->root;
}

struct iopt_tree iopt_as_tree(const struct iopt *t)
{
	return (struct iopt_tree){ .ops = t->ops, .ctx = t->ctx,
				   .root = t->root };
}

void iopt_get_stats(const struct iopt *t, struct iopt_stats *out)
{
	*out = t->st;
}

/* A table is no longer linked: free it now or when iopt_reclaim() runs. */
static void release_table(struct iopt *t, uint64_t pa)
{
	t->st.tables--;
	if (t->flags & IOPT_F_DEFER_FREE) {
		/* capacity was reserved before the unmap began */
		t->deferred[t->ndeferred++] = pa;
		t->st.deferred++;
		return;
	}
	t->ops->free_table(t->ctx, pa);
}

/* Make sure unlinking every table cannot run out of deferred slots. */
static int reserve_deferred(struct iopt *t)
{
	size_t need = t->ndeferred + t->st.tables;
	uint64_t *p;

	if (need <= t->cap_deferred)
		return 0;
	need = MAX(need, 2 * t->cap_deferred);
	p = realloc(t->deferred, need * sizeof(*p));
	if (!p)
		return -ENOMEM;
	t->deferred = p;
	t->cap_deferred = need;
	return 0;
}

int iopt_reclaim(struct iopt *t)
{
	size_t i, n = t->ndeferred;

	for (i = 0; i < n; i++)
		t->ops->free_table(t->ctx, t->deferred[i]);
	t->ndeferred = 0;
	t->st.deferred = 0;
	return (int)n;
}

/* tbl is unlinked: account its leaves, free it and all below. Bytes. */
static uint64_t drop_table(struct iopt *t, uint64_t pa, uint64_t *tbl,
			   int level)
{
	uint64_t bytes = 0, e, *sub;
	int i;

	for (i = 0; i < IOPT_ENTRIES; i++) {
		e = ld(&tbl[i]);
		switch (classify(e, level)) {
		case E_LEAF:
			t->st.leaves[level - 1]--;
			bytes += lvl_size(level);
			break;
		case E_TABLE:
			sub = t_ptr(t, e);
			if (sub)
				bytes += drop_table(t, e & IOPT_PTE_ADDR, sub,
						    level - 1);
			break;
		default:
			break;
		}
	}
	release_table(t, pa);
	return bytes;
}

void iopt_destroy(struct iopt *t)
{
	if (!t)
		return;
	if (t->root_tbl) {
		t->flags &= ~IOPT_F_DEFER_FREE;
		drop_table(t, t->root, t->root_tbl, IOPT_LEVELS);
	}
	iopt_reclaim(t);
	free(t->deferred);
	free(t);
}

void iopt_abandon(struct iopt *t)
{
	if (!t)
		return;
	free(t->deferred);
	free(t);
}

/* ---- map ---------------------------------------------------------------- */

struct new_tbl {
	uint64_t pa;
	uint64_t *ptr;
};

/*
 * One map request, run twice over the same recursion: a dry pass that
 * writes nothing, finds any overlap and counts the tables to create, then
 * (after they are all allocated) the pass that writes.
 */
struct map_req {
	struct iopt *t;
	uint64_t iova, pa;	/* start: the PA of x is pa + (x - iova) */
	uint64_t bits;		/* permission bits of every leaf */
	bool dry;
	size_t need;		/* dry pass: tables to create */
	struct new_tbl *resv;	/* write pass: those tables, in order */
	size_t used;
};

static int map_ptes(struct map_req *m, uint64_t *tbl, uint64_t lo,
		    uint64_t hi)
{
	unsigned int i = lvl_idx(lo, 1), n = (unsigned int)((hi - lo) >> 12), k;
	uint64_t pte = (m->pa + (lo - m->iova)) | m->bits;

	if (m->dry) {
		/* tbl == NULL: a table still to create, so empty */
		for (k = 0; tbl && k < n; k++)
			if (ld(&tbl[i + k]) & PTE_RW)
				return -EEXIST;
		return 0;
	}
	for (k = 0; k < n; k++, pte += IOPT_PAGE_SIZE)
		st(&tbl[i + k], pte);
	m->t->st.leaves[0] += n;
	m->t->hot = tbl;
	m->t->hot_key = lo >> lvl_shift(2);
	return 0;
}

static int map_level(struct map_req *m, uint64_t *tbl, int level,
		     uint64_t lo, uint64_t hi)
{
	uint64_t size = lvl_size(level), iova, next;
	int ret;

	if (level == 1)
		return map_ptes(m, tbl, lo, hi);
	for (iova = lo; iova < hi; iova = next) {
		unsigned int i = lvl_idx(iova, level);
		uint64_t start = iova & ~(size - 1), pa = m->pa + (iova - m->iova);
		uint64_t e = tbl ? ld(&tbl[i]) : 0, *sub = NULL;
		struct new_tbl *nt = NULL;

		next = MIN(start + size, hi);
		/* largest leaf that fits: whole entry, PA aligned to it */
		if (level <= m->t->max_leaf && iova == start &&
		    next - start == size && IS_ALIGNED(pa, size)) {
			if (e & PTE_RW)
				return -EEXIST;
			if (!m->dry) {
				st(&tbl[i], pa | m->bits | IOPT_PTE_PS);
				m->t->st.leaves[level - 1]++;
			}
			continue;
		}
		switch (classify(e, level)) {
		case E_LEAF:
			return -EEXIST;
		case E_BAD:
			return -EBADMSG;
		case E_TABLE:
			sub = t_ptr(m->t, e);
			if (!sub)
				return -EFAULT;
			break;
		case E_NONE:
			if (m->dry) {
				m->need++;
				break;
			}
			nt = &m->resv[m->used++];
			sub = nt->ptr;
			break;
		}
		ret = map_level(m, sub, level - 1, iova, next);
		if (ret)
			return ret;
		/* filled before linked: a walker never sees a half table */
		if (nt)
			__atomic_store_n(&tbl[i], nt->pa | PTE_RW,
					 __ATOMIC_RELEASE);
	}
	return 0;
}

/*
 * A replayed log maps page after page: when the request lies inside the
 * level-1 table the last map filled, skip the descent. Returns 1 when the
 * request is not such a case.
 */
static int map_hot(struct iopt *t, uint64_t iova, uint64_t pa, uint64_t len,
		   uint64_t bits)
{
	uint64_t *tbl = t->hot, key = iova >> lvl_shift(2);
	unsigned int i = lvl_idx(iova, 1), n = (unsigned int)(len >> 12), k;

	/* below 2 MiB a level-1 leaf is the only choice */
	if (!tbl || key != t->hot_key || len >= IOPT_SIZE_2M ||
	    (iova + len - 1) >> lvl_shift(2) != key)
		return 1;
	for (k = 0; k < n; k++)
		if (ld(&tbl[i + k]) & PTE_RW)
			return -EEXIST;
	for (k = 0; k < n; k++, pa += IOPT_PAGE_SIZE)
		st(&tbl[i + k], pa | bits);
	t->st.leaves[0] += n;
	return 0;
}

/* Check, allocate every table the request needs, then write. */
static __attribute__((noinline)) int map_walk(struct iopt *t, uint64_t iova,
					      uint64_t pa, uint64_t len,
					      unsigned int prot)
{
	struct new_tbl stack_resv[8], *resv = stack_resv;
	struct map_req m = { .t = t, .iova = iova, .pa = pa, .bits = prot,
			     .dry = true };
	size_t i;
	void *ptr;
	int ret;

	ret = map_level(&m, t->root_tbl, IOPT_LEVELS, iova, iova + len);
	if (ret)
		return ret;
	if (m.need > ARRAY_SIZE(stack_resv)) {
		resv = malloc(m.need * sizeof(*resv));
		if (!resv)
			return -ENOMEM;
	}
	for (i = 0; i < m.need; i++) {
		ret = t->ops->alloc_table(t->ctx, &resv[i].pa, &ptr);
		if (ret)
			goto err_free_tables;
		resv[i].ptr = ptr;
	}
	m.dry = false;
	m.resv = resv;
	/* the dry pass checked everything this pass can fail on */
	if (map_level(&m, t->root_tbl, IOPT_LEVELS, iova, iova + len) ||
	    m.used != m.need)
		abort();
	t->st.tables += m.need;
	if (resv != stack_resv)
		free(resv);
	return 0;

err_free_tables:
	while (i--)
		t->ops->free_table(t->ctx, resv[i].pa);
	if (resv != stack_resv)
		free(resv);
	return ret;
}

int iopt_map(struct iopt *t, uint64_t iova, uint64_t pa, uint64_t len,
	     unsigned int prot)
{
	int ret;

	if (!range_ok(iova, len) || !IS_ALIGNED(pa, IOPT_PAGE_SIZE) ||
	    !prot || (prot & ~IOPT_PROT_RW))
		return -EINVAL;
	/* one slot: a 512 GiB window; this also keeps pa + len < 2^52 */
	if (IOPT_PA_SLOT(pa) > IOPT_SLOT_MAX ||
	    IOPT_PA_OFF(pa) + len > IOPT_SLOT_SIZE)
		return -EINVAL;
	/* kept out of map_walk so the per-page replay path stays lean */
	ret = map_hot(t, iova, pa, len, prot);
	return ret <= 0 ? ret : map_walk(t, iova, pa, len, prot);
}

/* ---- unmap -------------------------------------------------------------- */

static bool table_empty(const uint64_t *tbl)
{
	int i;

	for (i = 0; i < IOPT_ENTRIES; i++)
		if (ld(&tbl[i]) & PTE_RW)
			return false;
	return true;
}

/* Clear every leaf in [lo, hi) (all lie wholly inside); returns bytes. */
static uint64_t unmap_level(struct iopt *t, uint64_t *tbl, int level,
			    uint64_t lo, uint64_t hi)
{
	uint64_t size = lvl_size(level), bytes = 0, iova, next, e, *sub;

	for (iova = lo; iova < hi; iova = next) {
		unsigned int i = lvl_idx(iova, level);
		uint64_t start = iova & ~(size - 1);

		next = MIN(start + size, hi);
		e = ld(&tbl[i]);
		switch (classify(e, level)) {
		case E_LEAF:
			st(&tbl[i], 0);
			t->st.leaves[level - 1]--;
			bytes += size;
			break;
		case E_TABLE:
			sub = t_ptr(t, e);
			if (!sub)
				break;
			if (iova == start && next - start == size) {
				/* unlink first: the subtree vanishes at once */
				st(&tbl[i], 0);
				bytes += drop_table(t, e & IOPT_PTE_ADDR, sub,
						    level - 1);
				break;
			}
			bytes += unmap_level(t, sub, level - 1, iova, next);
			if (table_empty(sub)) {
				st(&tbl[i], 0);
				release_table(t, e & IOPT_PTE_ADDR);
			}
			break;
		default:
			break;
		}
	}
	return bytes;
}

/* The leaf holding x, if any, must lie inside [lo, hi). */
static int check_edge(const struct iopt *t, uint64_t x, uint64_t lo,
		      uint64_t hi)
{
	struct iopt_xlate xl;
	int ret;

	ret = walk(t->ops, t->ctx, t->root, IOPT_LEVELS, x, &xl);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	x &= ~(xl.size - 1);
	return x < lo || x + xl.size > hi ? -EINVAL : 0;
}

int iopt_unmap(struct iopt *t, uint64_t iova, uint64_t len,
	       uint64_t *unmapped)
{
	uint64_t bytes;
	int ret;

	if (unmapped)
		*unmapped = 0;
	if (!range_ok(iova, len))
		return -EINVAL;
	/* leaves are aligned and disjoint: only the two edges can stick out */
	ret = check_edge(t, iova, iova, iova + len);
	if (!ret)
		ret = check_edge(t, iova + len - 1, iova, iova + len);
	if (!ret && (t->flags & IOPT_F_DEFER_FREE))
		ret = reserve_deferred(t);
	if (ret)
		return ret;
	t->hot = NULL;
	bytes = unmap_level(t, t->root_tbl, IOPT_LEVELS, iova, iova + len);
	if (!bytes)
		return -ENOENT;
	if (unmapped)
		*unmapped = bytes;
	return 0;
}

/* ---- iterator ------------------------------------------------------------ */

struct each {
	const struct iopt_tree *tr;
	int (*fn)(void *arg, const struct iopt_leaf *leaf);
	void *arg;
};

static int each_level(struct each *w, const uint64_t *tbl, int level,
		      uint64_t lo, uint64_t hi)
{
	uint64_t size = lvl_size(level), iova, next, e;
	const uint64_t *sub;
	struct iopt_leaf l;
	int ret = 0;

	for (iova = lo; iova < hi && !ret; iova = next) {
		next = MIN((iova & ~(size - 1)) + size, hi);
		e = ld(&tbl[lvl_idx(iova, level)]);
		switch (classify(e, level)) {
		case E_NONE:
			break;
		case E_LEAF:
			leaf_of(e, level, iova, &l);
			ret = w->fn(w->arg, &l);
			break;
		case E_TABLE:
			sub = tbl_at(w->tr->ops, w->tr->ctx, e & IOPT_PTE_ADDR);
			ret = sub ? each_level(w, sub, level - 1, iova, next)
				  : -EFAULT;
			break;
		default:
			ret = -EBADMSG;
			break;
		}
	}
	return ret;
}

int iopt_for_each_leaf(const struct iopt_tree *tr, uint64_t iova,
		       uint64_t len,
		       int (*fn)(void *arg, const struct iopt_leaf *leaf),
		       void *arg)
{
	struct each w = { .tr = tr, .fn = fn, .arg = arg };
	const uint64_t *root;

	if (!range_ok(iova, len) || !fn)
		return -EINVAL;
	root = tr->root & ~IOPT_PTE_ADDR ? NULL
					 : tbl_at(tr->ops, tr->ctx, tr->root);
	if (!root)
		return -EFAULT;
	return each_level(&w, root, IOPT_LEVELS, iova, iova + len);
}

/* ---- compare ------------------------------------------------------------ */

struct cmp {
	const struct iopt_tree *tr[2];
	struct iopt_mismatch *out;
};

static int cmp_level(struct cmp *c, const uint64_t *ta, const uint64_t *tb,
		     int level, uint64_t lo, uint64_t hi);

static int cmp_broken(struct cmp *c, uint64_t iova, int err)
{
	c->out->iova = iova;
	return err;
}

/*
 * Side s holds a leaf (entry e[s] at level) over iova, the other side
 * nothing or a table: they differ at iova, by presence or by leaf size.
 */
static int cmp_leaf_vs(struct cmp *c, const uint64_t e[2], int s, int level,
		       uint64_t iova)
{
	const struct iopt_tree *o = c->tr[!s];
	struct iopt_leaf *other = s ? &c->out->a : &c->out->b;
	struct iopt_xlate x;
	int ret;

	leaf_of(e[s], level, iova, s ? &c->out->b : &c->out->a);
	c->out->iova = iova;
	c->out->kind = IOPT_DIFF_PRESENT;
	if (classify(e[!s], level) != E_TABLE)
		return 1;
	ret = walk(o->ops, o->ctx, e[!s] & IOPT_PTE_ADDR, level - 1, iova, &x);
	if (ret == -ENOENT)
		return 1;
	if (ret)
		return cmp_broken(c, iova, ret);
	leaf_of(x.pte, x.level, iova, other);
	c->out->kind = IOPT_DIFF_SIZE;
	return 1;
}

/* The entry pair for iova at level, over [iova, next). */
static int cmp_entry(struct cmp *c, const uint64_t *ta, const uint64_t *tb,
		     int level, uint64_t iova, uint64_t next)
{
	unsigned int i = lvl_idx(iova, level);
	const uint64_t e[2] = { ta ? ld(&ta[i]) : 0, tb ? ld(&tb[i]) : 0 };
	enum ent ka = classify(e[0], level), kb = classify(e[1], level);
	const uint64_t *sub[2] = { NULL, NULL };
	int s;

	if (ka == E_BAD || kb == E_BAD)
		return cmp_broken(c, iova, -EBADMSG);
	if (ka == E_LEAF && kb == E_LEAF) {
		if (e[0] == e[1])
			return 0;
		leaf_of(e[0], level, iova, &c->out->a);
		leaf_of(e[1], level, iova, &c->out->b);
		c->out->iova = iova;
		c->out->kind = (e[0] ^ e[1]) & IOPT_PTE_ADDR ? IOPT_DIFF_TARGET
							     : IOPT_DIFF_PROT;
		return 1;
	}
	if (ka == E_LEAF || kb == E_LEAF)
		return cmp_leaf_vs(c, e, kb == E_LEAF, level, iova);
	for (s = 0; s < 2; s++) {
		if ((s ? kb : ka) != E_TABLE)
			continue;
		sub[s] = tbl_at(c->tr[s]->ops, c->tr[s]->ctx,
				e[s] & IOPT_PTE_ADDR);
		if (!sub[s])
			return cmp_broken(c, iova, -EFAULT);
	}
	if (!sub[0] && !sub[1])
		return 0;
	/* a table against nothing descends with NULL: an empty table */
	return cmp_level(c, sub[0], sub[1], level - 1, iova, next);
}

/* Are the n entries at a and b equal and free of reserved and PS bits?
 * Branch-free over the block so the compiler can vectorize it. */
static bool ptes_same(const uint64_t *a, const uint64_t *b, unsigned int n)
{
	uint64_t diff = 0, bits = 0;
	unsigned int k;

	for (k = 0; k < n; k++) {
		diff |= a[k] ^ b[k];
		bits |= a[k];
	}
	return !diff && !(bits & (IOPT_PTE_RSVD | IOPT_PTE_PS));
}

static int cmp_level(struct cmp *c, const uint64_t *ta, const uint64_t *tb,
		     int level, uint64_t lo, uint64_t hi)
{
	uint64_t size = lvl_size(level), iova, next;
	unsigned int i, end;
	int ret;

	if (level == 1 && ta && tb) {
		/* Leaf tables of a replay match the live ones word for
		 * word: skip runs of equal, well-formed entries. */
		i = lvl_idx(lo, 1);
		end = i + (unsigned int)((hi - lo) >> 12);
		for (; i < end; i++) {
			if (!(i & 63) && end - i >= 64 &&
			    ptes_same(&ta[i], &tb[i], 64)) {
				i += 63;
				continue;
			}
			if (ta[i] == tb[i] &&
			    !(ta[i] & (IOPT_PTE_RSVD | IOPT_PTE_PS)))
				continue;
			iova = (lo & ~(lvl_size(2) - 1)) | (uint64_t)i << 12;
			ret = cmp_entry(c, ta, tb, 1, iova, iova + size);
			if (ret)
				return ret;
		}
		return 0;
	}
	for (iova = lo; iova < hi; iova = next) {
		next = MIN((iova & ~(size - 1)) + size, hi);
		ret = cmp_entry(c, ta, tb, level, iova, next);
		if (ret)
			return ret;
	}
	return 0;
}

int iopt_compare(const struct iopt_tree *a, const struct iopt_tree *b,
		 uint64_t iova, uint64_t len, struct iopt_mismatch *out)
{
	struct cmp c = { .tr = { a, b }, .out = out };
	const uint64_t *ra = NULL, *rb = NULL;

	memset(out, 0, sizeof(*out));
	if (!range_ok(iova, len))
		return -EINVAL;
	out->iova = iova;
	if (!(a->root & ~IOPT_PTE_ADDR))
		ra = tbl_at(a->ops, a->ctx, a->root);
	if (!(b->root & ~IOPT_PTE_ADDR))
		rb = tbl_at(b->ops, b->ctx, b->root);
	if (!ra || !rb)
		return -EFAULT;
	return cmp_level(&c, ra, rb, IOPT_LEVELS, iova, iova + len);
}

/* ---- root words ---------------------------------------------------------- */

void iopt_root_publish(uint64_t *word, uint64_t root)
{
	__atomic_store_n(word, root | IOPT_ROOT_V, __ATOMIC_RELEASE);
}

void iopt_root_block(uint64_t *word)
{
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

int iopt_root_load(const uint64_t *word, uint64_t *root)
{
	uint64_t w = __atomic_load_n(word, __ATOMIC_ACQUIRE);

	if (!(w & IOPT_ROOT_V))
		return -ENOENT;
	if (w & ~(IOPT_PTE_ADDR | IOPT_ROOT_V))
		return -EBADMSG;
	*root = w & IOPT_PTE_ADDR;
	return 0;
}

/* ---- table pool ------------------------------------------------------------ */

struct iopt_pool {
	int fd;
	bool view;		/* read-only map of another process's pool */
	uint8_t *base;		/* max_bytes of reserved VA over the memfd */
	uint64_t base_pa;	/* PA of offset 0 */
	uint64_t max_bytes;
	uint64_t size;		/* bytes known to exist (atomic: walkers) */
	uint64_t bump;		/* first never-allocated offset */
	uint64_t free_head;	/* offset of the first free page; 0: none */
	uint64_t in_use;
};

/* View: the owner may have grown the memfd since we last looked. */
static bool pool_refresh(struct iopt_pool *p, uint64_t end)
{
	struct stat sb;
	uint64_t size;

	if (!p->view || fstat(p->fd, &sb) < 0)
		return false;
	size = MIN(ALIGN_DOWN((uint64_t)sb.st_size, IOPT_PAGE_SIZE),
		   p->max_bytes);
	__atomic_store_n(&p->size, size, __ATOMIC_RELAXED);
	return end <= size;
}

static inline void *pool_ptr(void *ctx, uint64_t pa, size_t len)
{
	struct iopt_pool *p = ctx;
	uint64_t off = pa - p->base_pa;	/* pa below the slot wraps: huge */

	if (unlikely(off < IOPT_PAGE_SIZE || off >= p->max_bytes ||
		     len > p->max_bytes - off))
		return NULL;
	if (unlikely(off + len > __atomic_load_n(&p->size, __ATOMIC_RELAXED)) &&
	    !pool_refresh(p, off + len))
		return NULL;
	return p->base + off;
}

/* Commit at least `want` bytes (0: the next growth step). */
static int pool_grow(struct iopt_pool *p, uint64_t want)
{
	uint64_t step = MIN(MAX(p->size, 64 * KiB), 8 * MiB);
	uint64_t size = MIN(MAX(p->size + step, want), p->max_bytes);

	if (size <= p->size || size < want)
		return -ENOMEM;
	if (ftruncate(p->fd, (off_t)size) < 0)
		return -errno;
	/* one call instead of a page fault per table; best effort */
	(void)madvise(p->base + p->size, size - p->size, MADV_POPULATE_WRITE);
	__atomic_store_n(&p->size, size, __ATOMIC_RELAXED);
	return 0;
}

static int pool_alloc(void *ctx, uint64_t *pa, void **ptr)
{
	struct iopt_pool *p = ctx;
	uint64_t off;
	int ret;

	if (p->view)
		return -EROFS;
	if (p->free_head) {
		off = p->free_head;
		p->free_head = *(uint64_t *)(p->base + off);
		memset(p->base + off, 0, IOPT_PAGE_SIZE);
	} else {
		if (p->bump == p->size) {
			ret = pool_grow(p, 0);
			if (ret)
				return ret;
		}
		off = p->bump;	/* never used: still zero */
		p->bump += IOPT_PAGE_SIZE;
	}
	p->in_use++;
	*pa = p->base_pa + off;
	*ptr = p->base + off;
	return 0;
}

static void pool_free(void *ctx, uint64_t pa)
{
	struct iopt_pool *p = ctx;
	uint64_t off = pa - p->base_pa;

	if (p->view || off < IOPT_PAGE_SIZE || off >= p->bump ||
	    !IS_ALIGNED(off, IOPT_PAGE_SIZE))
		abort();	/* not a page of ours: a broken invariant */
	/* The link is page aligned, so a stale walker reads "not present". */
	*(uint64_t *)(p->base + off) = p->free_head;
	p->free_head = off;
	p->in_use--;
}

const struct iopt_mem_ops iopt_pool_ops = {
	.ptr = pool_ptr,
	.alloc_table = pool_alloc,
	.free_table = pool_free,
};

static bool pool_args_ok(uint32_t slot, uint64_t max_bytes, void *out)
{
	return out && slot <= IOPT_SLOT_MAX &&
	       IS_ALIGNED(max_bytes, IOPT_PAGE_SIZE) &&
	       max_bytes >= 2 * IOPT_PAGE_SIZE && max_bytes <= IOPT_SLOT_SIZE;
}

int iopt_pool_create(uint32_t slot, uint64_t max_bytes, struct iopt_pool **out)
{
	struct iopt_pool *p;
	int ret;

	if (!pool_args_ok(slot, max_bytes, out))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = memfd_create("luvmm-iopt", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (p->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	/* views rely on it: a mapped page never turns into SIGBUS */
	if (fcntl(p->fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		ret = -errno;
		goto err_close;
	}
	p->base = mmap(NULL, max_bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, p->fd, 0);
	if (p->base == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	p->base_pa = IOPT_PA(slot, 0);
	p->max_bytes = max_bytes;
	p->bump = IOPT_PAGE_SIZE;	/* page 0: the owner's words */
	ret = pool_grow(p, 0);
	if (ret)
		goto err_unmap;
	*out = p;
	return 0;

err_unmap:
	munmap(p->base, max_bytes);
err_close:
	close(p->fd);
err_free:
	free(p);
	return ret;
}

int iopt_pool_open(int fd, uint32_t slot, uint64_t max_bytes,
		   struct iopt_pool **out)
{
	struct iopt_pool *p;
	struct stat sb;
	int seals, ret;

	if (fd < 0 || !pool_args_ok(slot, max_bytes, out))
		return -EINVAL;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &sb) < 0 ||
	    sb.st_size < (off_t)IOPT_PAGE_SIZE ||
	    (uint64_t)sb.st_size > max_bytes)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (p->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	p->base = mmap(NULL, max_bytes, PROT_READ, MAP_SHARED | MAP_NORESERVE,
		       p->fd, 0);
	if (p->base == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	p->view = true;
	p->base_pa = IOPT_PA(slot, 0);
	p->max_bytes = max_bytes;
	p->size = ALIGN_DOWN((uint64_t)sb.st_size, IOPT_PAGE_SIZE);
	/* the first compare or walk should not take a fault per table */
	(void)madvise(p->base, p->size, MADV_POPULATE_READ);
	*out = p;
	return 0;

err_close:
	close(p->fd);
err_free:
	free(p);
	return ret;
}

void iopt_pool_destroy(struct iopt_pool *p)
{
	if (!p)
		return;
	munmap(p->base, p->max_bytes);
	close(p->fd);
	free(p);
}

int iopt_pool_reserve(struct iopt_pool *p, uint64_t tables)
{
	uint64_t want;

	if (p->view)
		return -EROFS;
	if (tables > p->max_bytes / IOPT_PAGE_SIZE)
		return -ENOMEM;
	want = ALIGN_UP(p->bump + tables * IOPT_PAGE_SIZE, IOPT_PAGE_SIZE);
	return want <= p->size ? 0 : pool_grow(p, want);
}

int iopt_pool_fd(const struct iopt_pool *p)
{
	return p->fd;
}

uint64_t *iopt_pool_word(struct iopt_pool *p, unsigned int idx)
{
	return idx < IOPT_ENTRIES ? (uint64_t *)p->base + idx : NULL;
}

void iopt_pool_get_stats(const struct iopt_pool *p, struct iopt_pool_stats *out)
{
	out->size = __atomic_load_n(&p->size, __ATOMIC_RELAXED);
	out->in_use = p->in_use;
}
