// SPDX-License-Identifier: MIT
/*
 * iova_tree.c: an AVL tree of non-overlapping ranges. Recursion depth is
 * the tree height, at most ~1.44 log2(n): 30 for a million ranges.
 */
#include <errno.h>

#include "iova_tree.h"

static int height(const struct iova_node *n)
{
	return n ? n->height : 0;
}

static void fix_height(struct iova_node *n)
{
	int l = height(n->left), r = height(n->right);

	n->height = (l > r ? l : r) + 1;
}

static struct iova_node *rotate_right(struct iova_node *n)
{
	struct iova_node *l = n->left;

	n->left = l->right;
	l->right = n;
	fix_height(n);
	fix_height(l);
	return l;
}

static struct iova_node *rotate_left(struct iova_node *n)
{
	struct iova_node *r = n->right;

	n->right = r->left;
	r->left = n;
	fix_height(n);
	fix_height(r);
	return r;
}

static struct iova_node *balance(struct iova_node *n)
{
	int bf;

	fix_height(n);
	bf = height(n->left) - height(n->right);
	if (bf > 1) {
		if (height(n->left->left) < height(n->left->right))
			n->left = rotate_left(n->left);
		return rotate_right(n);
	}
	if (bf < -1) {
		if (height(n->right->right) < height(n->right->left))
			n->right = rotate_right(n->right);
		return rotate_left(n);
	}
	return n;
}

static struct iova_node *insert(struct iova_node *root, struct iova_node *n)
{
	if (!root)
		return n;
	if (n->first < root->first)
		root->left = insert(root->left, n);
	else
		root->right = insert(root->right, n);
	return balance(root);
}

int iova_tree_insert(struct iova_tree *t, struct iova_node *n)
{
	if (n->first > n->last)
		return -EINVAL;
	if (iova_tree_first(t, n->first, n->last))
		return -EEXIST;
	n->left = n->right = NULL;
	n->height = 1;
	t->root = insert(t->root, n);
	t->count++;
	return 0;
}

/* The balanced subtree of nodes[lo, hi): the middle one on top. */
static struct iova_node *build(struct iova_node **nodes, size_t lo, size_t hi)
{
	size_t mid = lo + (hi - lo) / 2;
	struct iova_node *n;

	if (lo >= hi)
		return NULL;
	n = nodes[mid];
	n->left = build(nodes, lo, mid);
	n->right = build(nodes, mid + 1, hi);
	fix_height(n);
	return n;
}

int iova_tree_build(struct iova_tree *t, struct iova_node **nodes, size_t n)
{
	size_t i;

	if (t->root)
		return -EBUSY;
	for (i = 0; i < n; i++) {
		if (nodes[i]->first > nodes[i]->last)
			return -EINVAL;
		if (i && nodes[i - 1]->last >= nodes[i]->first)
			return -EINVAL;
	}
	t->root = build(nodes, 0, n);
	t->count = n;
	return 0;
}

/* Unlink the leftmost node of the subtree at root; *min gets it. */
static struct iova_node *remove_min(struct iova_node *root, struct iova_node **min)
{
	if (!root->left) {
		*min = root;
		return root->right;
	}
	root->left = remove_min(root->left, min);
	return balance(root);
}

static struct iova_node *remove(struct iova_node *root, struct iova_node *n)
{
	struct iova_node *min;

	if (!root)
		return NULL;
	if (root != n) {
		if (n->first < root->first)
			root->left = remove(root->left, n);
		else
			root->right = remove(root->right, n);
		return balance(root);
	}
	if (!n->right)
		return n->left;
	n->right = remove_min(n->right, &min);
	min->left = n->left;
	min->right = n->right;
	return balance(min);
}

void iova_tree_remove(struct iova_tree *t, struct iova_node *n)
{
	t->root = remove(t->root, n);
	t->count--;
	n->left = n->right = NULL;
	n->height = 0;
}

struct iova_node *iova_tree_first(const struct iova_tree *t, uint64_t first,
				  uint64_t last)
{
	struct iova_node *n = t->root, *best = NULL;

	/* ranges are disjoint, so ordered by last too: find the lowest
	 * range ending at or after first */
	while (n) {
		if (n->last >= first) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best && best->first <= last ? best : NULL;
}

struct iova_node *iova_tree_next(const struct iova_tree *t,
				 const struct iova_node *after)
{
	struct iova_node *n = t->root, *best = NULL;

	while (n) {
		if (n->first > after->first) {
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

int iova_tree_covered(const struct iova_tree *t, uint64_t first, uint64_t last,
		      uint64_t *bytes)
{
	const struct iova_node *n;
	uint64_t sum = 0;

	for (n = iova_tree_first(t, first, last); n && n->first <= last;
	     n = iova_tree_next(t, n)) {
		if (n->first < first || n->last > last)
			return -ENOENT;
		sum += n->last - n->first + 1;
	}
	if (!sum)
		return -ENOENT;
	*bytes = sum;
	return 0;
}

struct iova_node *iova_tree_find(const struct iova_tree *t, uint64_t first)
{
	struct iova_node *n = t->root;

	while (n && n->first != first)
		n = first < n->first ? n->left : n->right;
	return n;
}

/* Height of a valid subtree within (lo, hi) bounds, or -1. */
static int check(const struct iova_node *n, const struct iova_node *lo,
		 const struct iova_node *hi, size_t *count)
{
	int l, r;

	if (!n)
		return 0;
	if (n->first > n->last || (lo && n->first <= lo->last) ||
	    (hi && n->last >= hi->first))
		return -1;
	l = check(n->left, lo, n, count);
	r = check(n->right, n, hi, count);
	if (l < 0 || r < 0 || l - r > 1 || r - l > 1 ||
	    n->height != (l > r ? l : r) + 1)
		return -1;
	(*count)++;
	return n->height;
}

int iova_tree_check(const struct iova_tree *t)
{
	size_t count = 0;

	if (check(t->root, NULL, NULL, &count) < 0 || count != t->count)
		return -EBADMSG;
	return 0;
}
