/* SPDX-License-Identifier: MIT */
/*
 * iova_tree.h: an ordered set of non-overlapping IOVA ranges (an intrusive
 * AVL tree keyed by the first address). What an IOAS's areas and the map
 * log's index are kept in: insert refuses overlaps, lookups find the ranges
 * that meet [first, last] in address order, all O(log n).
 *
 * Nodes are embedded in the caller's structs (container_of); the tree never
 * allocates. Not thread-safe: the owner locks.
 */
#ifndef LUVMM_IOMMU_IOVA_TREE_H
#define LUVMM_IOMMU_IOVA_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"

struct iova_node {
	uint64_t first;		/* first byte of the range */
	uint64_t last;		/* last byte (inclusive: no overflow at 2^64) */
	struct iova_node *left, *right;
	int height;
};

struct iova_tree {
	struct iova_node *root;
	size_t count;
};

static inline void iova_tree_init(struct iova_tree *t)
{
	t->root = NULL;
	t->count = 0;
}

/* Insert n (first <= last set by the caller). -EEXIST if it overlaps a
 * range already in the tree (nothing changes), -EINVAL if first > last. */
int __must_check iova_tree_insert(struct iova_tree *t, struct iova_node *n);
/*
 * Fill an empty tree with nodes[0..n), which must be in address order
 * without overlaps (first <= last set by the caller), in O(n): a tree of
 * minimal height, as n inserts would make but with no rotations. -EBUSY if
 * t is not empty, -EINVAL if the order or a range is wrong (nothing
 * changes).
 */
int __must_check iova_tree_build(struct iova_tree *t, struct iova_node **nodes,
				 size_t n);
/* Remove n, which must be in t. */
void iova_tree_remove(struct iova_tree *t, struct iova_node *n);
/* The lowest range that meets [first, last], or NULL. */
struct iova_node *iova_tree_first(const struct iova_tree *t, uint64_t first,
				  uint64_t last);
/* The range right after n in address order, or NULL. */
struct iova_node *iova_tree_next(const struct iova_tree *t,
				 const struct iova_node *n);
/*
 * Do the ranges that meet [first, last] lie wholly inside it? The rule of
 * an IOMMU unmap: 0 with the bytes they hold in *bytes; -ENOENT if one
 * sticks out or none is there.
 */
int iova_tree_covered(const struct iova_tree *t, uint64_t first, uint64_t last,
		      uint64_t *bytes);
/* The range with this exact first address, or NULL. */
struct iova_node *iova_tree_find(const struct iova_tree *t, uint64_t first);
/* Debug/test: check order, no overlap, balance and heights; 0 or -EBADMSG. */
int iova_tree_check(const struct iova_tree *t);

#endif
