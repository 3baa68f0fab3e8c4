// SPDX-License-Identifier: MIT
/*
 * iommu.c: what both IOMMU backends share: the argument rules of map and
 * unmap (iommu.h).
 */
#include <errno.h>

#include "iommu.h"

#define IOMMU_PAGE	4096ULL

int iommu_check_map(uint64_t start, uint64_t length, uint64_t iova,
		    unsigned int prot)
{
	if (!length || (start | length | iova) & (IOMMU_PAGE - 1))
		return -EINVAL;
	if (start + length < start || iova + length < iova)
		return -EINVAL;
	if (!prot || (prot & ~(IOMMU_PROT_READ | IOMMU_PROT_WRITE)))
		return -EINVAL;
	return 0;
}

int iommu_check_unmap(uint64_t iova, uint64_t length)
{
	if (!length || (iova | length) & (IOMMU_PAGE - 1))
		return -EINVAL;
	if (iova + length < iova && iova + length != 0)
		return -EINVAL;
	return 0;
}
