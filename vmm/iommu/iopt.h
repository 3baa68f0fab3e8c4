/* SPDX-License-Identifier: MIT */
/*
 * iopt.h: I/O page tables for the soft IOMMU and the device simulator.
 *
 * Real radix tables, x86-64 style: 4 levels, 48-bit IOVA, 4 KiB tables of
 * 512 64-bit entries, leaves of 4 KiB (level 1), 2 MiB (level 2) and
 * 1 GiB (level 3). docs/iommu-pagetables.md is the normative description of
 * the entry format, the page-size rule, the fault model and the comparer.
 *
 * Physical addresses are *soft* PAs: PA = (slot << 39) | offset, where a
 * slot is a memfd (guest RAM, a BAR, a table pool) registered under a small
 * id by each process. iopt never maps memory itself: it reaches table memory
 * through struct iopt_mem_ops. struct iopt_pool is a ready implementation
 * that keeps tables in one growable memfd another process can map.
 *
 * A struct iopt (the builder: map/unmap) has one owning thread; nothing in
 * it locks. Walkers (translate, compare, for_each) only read table memory,
 * with atomic loads, and may run in another thread or process while the
 * owner maps: every entry is written with one 64-bit store, a new table is
 * filled before it is linked (release), and an entry is only ever set from
 * empty or cleared, never rewritten (break-before-make).
 */
#ifndef LUVMM_IOMMU_IOPT_H
#define LUVMM_IOMMU_IOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"

/* ---- soft physical addresses -------------------------------------------- */

#define IOPT_SLOT_SHIFT		39
#define IOPT_SLOT_SIZE		(1ULL << IOPT_SLOT_SHIFT)	/* 512 GiB */
#define IOPT_SLOT_MAX		8191U		/* PA < 2^52 */
#define IOPT_PA(slot, off)	(((uint64_t)(slot) << IOPT_SLOT_SHIFT) | (off))
#define IOPT_PA_SLOT(pa)	((uint32_t)((pa) >> IOPT_SLOT_SHIFT))
#define IOPT_PA_OFF(pa)		((pa) & (IOPT_SLOT_SIZE - 1))

/* ---- geometry and entry format ------------------------------------------ */

#define IOPT_PAGE_SIZE		4096ULL
#define IOPT_LEVELS		4
#define IOPT_IOVA_BITS		48
#define IOPT_IOVA_END		(1ULL << IOPT_IOVA_BITS)
#define IOPT_PA_BITS		52
#define IOPT_ENTRIES		512
#define IOPT_SIZE_4K		(4ULL * KiB)
#define IOPT_SIZE_2M		(2ULL * MiB)
#define IOPT_SIZE_1G		(1ULL * GiB)

#define IOPT_PTE_R		(1ULL << 0)	/* readable */
#define IOPT_PTE_W		(1ULL << 1)	/* writable */
#define IOPT_PTE_PS		(1ULL << 7)	/* leaf at level 2 or 3 */
#define IOPT_PTE_ADDR		0x000ffffffffff000ULL	/* bits 12..51 */
#define IOPT_PTE_RSVD		(~(IOPT_PTE_R | IOPT_PTE_W | IOPT_PTE_PS | \
				   IOPT_PTE_ADDR))

/* Permissions of a mapping and the access of a DMA: the same two bits. */
#define IOPT_PROT_READ		((unsigned int)IOPT_PTE_R)
#define IOPT_PROT_WRITE		((unsigned int)IOPT_PTE_W)
#define IOPT_PROT_RW		(IOPT_PROT_READ | IOPT_PROT_WRITE)

/* ---- how iopt reaches table memory ------------------------------------- */

struct iopt_mem_ops {
	/*
	 * Host pointer to [pa, pa + len) or NULL when any of it lies outside
	 * memory this resolver accepts. Called with hostile PAs by walkers:
	 * must never fault. A pointer it returns for a table stays valid
	 * until that table is freed. Give walkers a resolver that accepts
	 * only page-table slots, so a bad table cannot make them read RAM.
	 */
	void *(*ptr)(void *ctx, uint64_t pa, size_t len);
	/* A zeroed, 4 KiB aligned table page: 0 or a negative errno. */
	int (*alloc_table)(void *ctx, uint64_t *pa, void **ptr);
	/* Give back a page alloc_table returned. */
	void (*free_table)(void *ctx, uint64_t pa);
};

/* A tree anyone can walk: its root table and how to reach table memory. */
struct iopt_tree {
	const struct iopt_mem_ops *ops;
	void *ctx;
	uint64_t root;		/* PA of the level-4 table */
};

/* ---- the builder --------------------------------------------------------- */

struct iopt;

/* Creation flags. */
#define IOPT_F_MAX_4K		(1U << 0)	/* only 4 KiB leaves */
#define IOPT_F_MAX_2M		(1U << 1)	/* no 1 GiB leaves */
#define IOPT_F_DEFER_FREE	(1U << 2)	/* keep unlinked tables until
						   iopt_reclaim() */

struct iopt_stats {
	uint64_t tables;	/* linked tables, the root included */
	uint64_t deferred;	/* unlinked, waiting for iopt_reclaim() */
	uint64_t leaves[3];	/* present leaves: [0] 4K, [1] 2M, [2] 1G */
};

/*
 * Allocate the root table through ops and return an empty tree in *out.
 * Flags: IOPT_F_* (MAX_4K and MAX_2M are exclusive). -EINVAL for bad
 * arguments, -ENOMEM or the error of ops->alloc_table.
 */
int __must_check iopt_create(const struct iopt_mem_ops *ops, void *ctx,
			     uint32_t flags, struct iopt **out);
/* Free every table (deferred ones too) and t. Accepts NULL. */
void iopt_destroy(struct iopt *t);
/*
 * Free t but leave every table as it is: the tables may still be walked
 * by a device another process now drives (a VMM that retires after a live
 * update). Freeing them would write free-list links into live tables.
 * Accepts NULL.
 */
void iopt_abandon(struct iopt *t);
/* PA of the root table: what goes into a root word. */
uint64_t iopt_root(const struct iopt *t);
/* The walkable view of t (valid while t lives). */
struct iopt_tree iopt_as_tree(const struct iopt *t);
void iopt_get_stats(const struct iopt *t, struct iopt_stats *out);

/*
 * Map [iova, iova + len) to [pa, pa + len) with prot (IOPT_PROT_*, not 0).
 * Each step uses the largest leaf the creation flags allow whose size
 * divides both the IOVA and the PA and fits in what is left. All three
 * must be 4 KiB aligned, len > 0, iova + len <= 2^48 and the PA range
 * inside one slot (-EINVAL). Any page of the range already mapped:
 * -EEXIST. Tables are allocated before the first entry is written, so on
 * any error (-EEXIST, -ENOMEM, ...) the tree is exactly as before.
 */
int __must_check iopt_map(struct iopt *t, uint64_t iova, uint64_t pa,
			  uint64_t len, unsigned int prot);

/*
 * Unmap every leaf inside [iova, iova + len); holes are fine. A leaf that
 * lies only partly inside would have to be split: -EINVAL, nothing changes.
 * Nothing mapped in the range: -ENOENT. Otherwise 0, with the bytes unmapped
 * in *unmapped (may be NULL). Tables left empty are unlinked and freed, or
 * with IOPT_F_DEFER_FREE kept intact until iopt_reclaim(). Alignment and
 * range rules as for iopt_map (-EINVAL). -ENOMEM only with DEFER_FREE.
 */
int __must_check iopt_unmap(struct iopt *t, uint64_t iova, uint64_t len,
			    uint64_t *unmapped);

/*
 * Free the tables unmaps left waiting (IOPT_F_DEFER_FREE). Call it only once
 * no walker can still be inside them (the simulator acknowledged an
 * invalidation issued after the unmap). Returns the number freed.
 */
int iopt_reclaim(struct iopt *t);

/* ---- walkers -------------------------------------------------------------- */

/* What a walk found. */
struct iopt_xlate {
	uint64_t pa;		/* translated address of the IOVA */
	uint64_t size;		/* size of the leaf that mapped it */
	unsigned int prot;	/* that leaf's IOPT_PROT_* */
	int level;		/* level of the leaf, or where the walk faulted */
	uint64_t pte;		/* the leaf, or the entry that faulted */
};

/*
 * The hardware walk of one DMA access (IOPT_PROT_READ and/or _WRITE) to
 * iova: at most 4 table reads, safe on any table contents. 0 and *out on
 * success; on a fault, out->level and out->pte say where, and:
 *   -ENOENT   not present (an entry with R = W = 0)
 *   -EACCES   the leaf lacks a permission the access needs
 *   -EBADMSG  reserved bit set, or a malformed entry (see the doc)
 *   -EFAULT   a table PA (or the root) that ops->ptr does not resolve
 *   -ERANGE   iova >= 2^48
 *   -EINVAL   access is 0 or has other bits (a caller bug, not a fault)
 */
int __must_check iopt_translate(const struct iopt_tree *tr, uint64_t iova,
				unsigned int access, struct iopt_xlate *out);

/* One leaf, as the iterator and the comparer report it. */
struct iopt_leaf {
	uint64_t iova;		/* first IOVA it maps (aligned to size) */
	uint64_t pa;		/* PA of that first byte */
	uint64_t size;		/* 4K, 2M or 1G; 0 means nothing mapped */
	unsigned int prot;
};

/*
 * Call fn for every leaf that overlaps [iova, iova + len), in IOVA order,
 * whole (a leaf may start before iova). Stops at the first nonzero value fn
 * returns and returns it; 0 when done; -EINVAL bad range; -EBADMSG/-EFAULT
 * for a malformed tree (the leaves before it were reported).
 */
int __must_check iopt_for_each_leaf(const struct iopt_tree *tr, uint64_t iova,
				    uint64_t len,
				    int (*fn)(void *arg,
					      const struct iopt_leaf *leaf),
				    void *arg);

enum iopt_diff {
	IOPT_DIFF_NONE = 0,
	IOPT_DIFF_PRESENT,	/* mapped in one tree only */
	IOPT_DIFF_SIZE,		/* mapped in both, by leaves of other sizes */
	IOPT_DIFF_TARGET,	/* same leaf size, other PA */
	IOPT_DIFF_PROT,		/* same leaf, other permissions */
};

struct iopt_mismatch {
	uint64_t iova;		/* first IOVA (in range) that differs */
	enum iopt_diff kind;
	struct iopt_leaf a, b;	/* the leaf covering iova in each tree */
};

/*
 * Do a and b translate [iova, iova + len) identically: every 4 KiB page
 * unmapped in both, or mapped in both by leaves of the same size, base PA
 * and permissions? 0 if so; 1 if not, with the first difference in *out;
 * -EINVAL bad range; -EBADMSG/-EFAULT if either tree is malformed (out->iova
 * says where). Both trees must not change during the call.
 */
int __must_check iopt_compare(const struct iopt_tree *a,
			      const struct iopt_tree *b, uint64_t iova,
			      uint64_t len, struct iopt_mismatch *out);

/* ---- root words (the device-table entry the hardware reads) ------------- */

#define IOPT_ROOT_V		(1ULL << 0)	/* translate through the root */

/*
 * Point a device at a tree: one 64-bit release store of root | V into the
 * shared word, so every table write before it is visible to a walker that
 * loads the word with iopt_root_load(). Walks that loaded the old value
 * may still be running: free the old tree only after the walker confirms.
 */
void iopt_root_publish(uint64_t *word, uint64_t root);
/* Block all DMA of that device (word = 0). */
void iopt_root_block(uint64_t *word);
/*
 * Acquire-load a root word: 0 and *root; -ENOENT when blocked; -EBADMSG
 * when bits other than V and a 4 KiB aligned PA below 2^52 are set.
 */
int __must_check iopt_root_load(const uint64_t *word, uint64_t *root);

/* ---- table pool: tables in one memfd ---------------------------------- */

struct iopt_pool;

struct iopt_pool_stats {
	uint64_t size;		/* bytes of the memfd (page 0 included) */
	uint64_t in_use;	/* table pages handed out */
};

/* ops for a struct iopt_pool ctx. */
extern const struct iopt_mem_ops iopt_pool_ops;

/*
 * A pool of table pages in a new sealed (no shrinking) memfd that is phys
 * slot `slot`, holding at most max_bytes (4 KiB multiple, 8 KiB .. 512 GiB).
 * The whole range is reserved in VA up front, so pointers never move; the
 * memfd grows as tables are allocated. Page 0 is never a table: it holds
 * 512 words (iopt_pool_word) the owner may use as device-table entries.
 * -EINVAL bad arguments, else the errno of memfd_create/mmap/ftruncate.
 */
int __must_check iopt_pool_create(uint32_t slot, uint64_t max_bytes,
				  struct iopt_pool **out);
/*
 * A read-only view of a pool another process created, from its fd (dup'ed;
 * the caller keeps its own): what the simulator walks. It follows the
 * pool's growth. -EINVAL if fd is not a shrink-sealed memfd of at least
 * one page and at most max_bytes. alloc_table on a view fails with -EROFS.
 */
int __must_check iopt_pool_open(int fd, uint32_t slot, uint64_t max_bytes,
				struct iopt_pool **out);
/*
 * Commit and fault in room for `tables` more never-used table pages now,
 * so a later build (a replay) takes no page faults: the new VMM calls it
 * while the guest still runs, sized from the old pool. -ENOMEM beyond
 * max_bytes (nothing changes), -EROFS on a view, or ftruncate's error.
 */
int __must_check iopt_pool_reserve(struct iopt_pool *p, uint64_t tables);
/* Unmap and close. Tables in it are gone. Accepts NULL. */
void iopt_pool_destroy(struct iopt_pool *p);
/* The memfd, to hand to another process. */
int iopt_pool_fd(const struct iopt_pool *p);
/* Word idx (< 512) of page 0, shared with every view (read-only there). */
uint64_t *iopt_pool_word(struct iopt_pool *p, unsigned int idx);
void iopt_pool_get_stats(const struct iopt_pool *p, struct iopt_pool_stats *out);

#endif
