// SPDX-License-Identifier: MIT
/*
 * dmamap.c: the dma workload's buffers and its paravirtual IOMMU client
 * (port 0x510, guest-fw/abi.h): where each buffer lives in the dma= region,
 * at which IOVA it is mapped, the map/unmap requests (counted and, when
 * refused, printed), the periodic remap ("churn") and the dma_maps extra
 * mappings. Runs at CPL3 on the one dma vCPU.
 *
 * Region layout (offsets in the dma= region; IOVA = window + offset):
 *   0        src L  2 MiB          device READ        (COPY source)
 *   2M-10M   dst L  4 x 2 MiB      READ|WRITE         (slots 0-3)
 *   10M      src M  64 KiB         READ               (COPY source)
 *   +64K     dst M  6 x 64 KiB     READ|WRITE         (slots 4-9)
 *   +448K    dst S  6 x 4 KiB      READ|WRITE         (slots 10-15)
 * Each buffer is one map request, so the 2 MiB ones (2 MiB aligned in GPA
 * and IOVA) can use large IOMMU leaves. Windows: DMAMAP_IOVA_A at start,
 * DMAMAP_IOVA_B the churn's other placement, DMAMAP_IOVA_X the extras.
 */
#include "fw.h"

#define SZ_4K		0x1000ULL
#define SZ_64K		0x10000ULL
#define SZ_1M		0x100000ULL
#define SZ_2M		0x200000ULL

#define E_ENOENT	2
#define E_EEXIST	17
#define E_ENODEV	19
#define E_EINVAL	22
#define E_ENOSPC	28

struct dmamap dmamap;
/* below 4 MiB and identity mapped: its address is its GPA */
static struct luvmm_iommu_req req __aligned(64);

static const char *err_name(uint32_t e)
{
	switch (e) {
	case E_ENOENT: return "ENOENT";
	case E_EEXIST: return "EEXIST";
	case E_ENODEV: return "ENODEV";
	case E_EINVAL: return "EINVAL";
	case E_ENOSPC: return "ENOSPC";
	case DMAMAP_UNANSWERED: return "no-answer";
	}
	return "other";
}

/* OUT with a compiler barrier: the VMM reads and writes our memory. */
void dma_out32(uint16_t port, uint32_t v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

/*
 * One request; returns its status (0 done, else a positive errno, or
 * DMAMAP_UNANSWERED when nothing handled the port). It may take
 * milliseconds during a live update's rebuild: that wait is a real gap of
 * this vCPU, so it is folded into the next heartbeat like a report's exit.
 */
static uint32_t request(struct pcpu *p, uint32_t op, uint32_t prot,
			uint64_t iova, uint64_t gpa, uint64_t len)
{
	volatile struct luvmm_iommu_req *r = &req;
	uint64_t t0, d;

	r->op = op;
	r->prot = prot;
	r->iova = iova;
	r->gpa = gpa;
	r->len = len;
	r->status = DMAMAP_UNANSWERED;
	r->reserved = 0;
	t0 = rdtsc();
	dma_out32(LUVMM_PORT_IOMMU, (uint32_t)(uint64_t)&req);
	d = rdtsc() - t0;
	if (d > p->hb.max_exit)
		p->hb.max_exit = d;
	return r->status;
}

/* Count a request's outcome; a refusal gets a (rate-limited) line. */
static uint32_t account(struct pcpu *p, uint32_t op, uint64_t iova,
			uint64_t gpa, uint64_t len, uint32_t st)
{
	if (!st) {
		dmamap.maps++;
		return 0;
	}
	dmamap.refused++;
	if (dma_line_ok())
		con_line(p, "dma refused op=%s iova=0x%lx gpa=0x%lx len=0x%lx "
			 "errno=%u err=%s", op == LUVMM_IOMMU_MAP ? "map" :
			 "unmap", iova, gpa, len, st, err_name(st));
	return st;
}

bool dmamap_is_nodev(uint32_t st)
{
	return st == E_ENODEV || st == DMAMAP_UNANSWERED;
}

uint32_t dmamap_buf(struct pcpu *p, struct dma_buf *b, uint64_t iova,
		    bool probe)
{
	uint64_t gpa = dmamap.base + b->off;
	uint32_t st = request(p, LUVMM_IOMMU_MAP, b->prot, iova, gpa,
			      b->size);

	if (probe && dmamap_is_nodev(st))
		return st;
	if (!account(p, LUVMM_IOMMU_MAP, iova, gpa, b->size, st)) {
		b->iova = iova;
		b->mapped = true;
	}
	return st;
}

void dmamap_layout(uint64_t base)
{
	uint32_t i;

	dmamap.base = base;
	for (i = 0; i < DMA_NBUF; i++) {
		struct dma_buf *b = &dmamap.buf[i];
		uint32_t s = i - DMA_BUF_DST(0);

		if (i == DMA_BUF_SRC_L) {
			b->off = 0;
			b->size = SZ_2M;
		} else if (i == DMA_BUF_SRC_M) {
			b->off = 10 * SZ_1M;
			b->size = SZ_64K;
		} else if (s < 4) {
			b->off = SZ_2M * (1 + s);
			b->size = SZ_2M;
		} else if (s < 10) {
			b->off = 10 * SZ_1M + SZ_64K * (s - 3);
			b->size = SZ_64K;
		} else {
			b->off = 10 * SZ_1M + 7 * SZ_64K + SZ_4K * (s - 10);
			b->size = SZ_4K;
		}
		b->prot = i < DMA_BUF_DST(0) ? LUVMM_IOMMU_READ
				: LUVMM_IOMMU_READ | LUVMM_IOMMU_WRITE;
	}
}

/*
 * Unmap slot s's buffer and map it again: at the same IOVA, then in the
 * other window, alternately. A refused unmap keeps the old mapping; a
 * refused map leaves the buffer to dmamap_retry().
 */
void dmamap_churn(struct pcpu *p, uint32_t s)
{
	struct dma_buf *b = &dmamap.buf[DMA_BUF_DST(s)];
	uint64_t iova = b->iova;

	if (!b->mapped)
		return;
	if (account(p, LUVMM_IOMMU_UNMAP, iova, 0, b->size,
		    request(p, LUVMM_IOMMU_UNMAP, 0, iova, 0, b->size)))
		return;
	b->mapped = false;
	if (b->remaps++ & 1)
		iova = (iova < DMAMAP_IOVA_B ? DMAMAP_IOVA_B : DMAMAP_IOVA_A) +
		       b->off;
	dmamap_buf(p, b, iova, false);
}

void dmamap_retry(struct pcpu *p)
{
	uint32_t i;

	for (i = 0; i < DMA_NBUF; i++)
		if (!dmamap.buf[i].mapped)
			dmamap_buf(p, &dmamap.buf[i],
				   DMAMAP_IOVA_A + dmamap.buf[i].off, false);
}

void dmamap_extra(struct pcpu *p, uint64_t n, uint64_t size)
{
	uint64_t i, pages = size / SZ_4K, t0 = rdtsc();
	uint64_t refused = dmamap.refused, iova, gpa;
	uint32_t prot;

	for (i = 0; i < n; i++) {
		iova = DMAMAP_IOVA_X + i * SZ_4K;
		gpa = dmamap.base + i % pages * SZ_4K;
		prot = LUVMM_IOMMU_READ | (i & 1 ? LUVMM_IOMMU_WRITE : 0);
		account(p, LUVMM_IOMMU_MAP, iova, gpa, SZ_4K,
			request(p, LUVMM_IOMMU_MAP, prot, iova, gpa, SZ_4K));
		dma_tick(p);
	}
	con_line(p, "dma extra-maps n=%lu refused=%lu us=%lu", n,
		 dmamap.refused - refused, tsc_to_us(rdtsc() - t0));
}
