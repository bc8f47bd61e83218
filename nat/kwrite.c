/* SPDX-License-Identifier: MIT */
/* Writing ctnet's set elements straight to nf_tables (libmnl): the add/delete batches. */
#include "nat_int.h"
#include "nlsock.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- writing: element add/delete batches without libnftables ---- */

/*
 * libnftables fills its cache before any command: every table, chain, set and object of the
 * whole ruleset, also other tools' (a Kubernetes node's thousands of iptables-nft chains).
 * Element adds and deletes need none of it: they go out here as one nf_tables batch of
 * NEWSETELEM/DELSETELEM, from the same element bytes the desired state holds. Anything else
 * (creating the table, rebuilding it) stays with libnftables.
 */

/* Sets whose elements carry a counter (the set's `counter` flag: the kernel requires each
 * element's expressions to match the set's). */
static bool has_counter(int set)
{
	return set == NAT_S_SPOOF4 || set == NAT_S_SPOOF6 || set == NAT_S_PSPOOF4 ||
	       set == NAT_S_PSPOOF6 || nat_set_is_map(set);
}

static void put_data(struct nlmsghdr *nlh, uint16_t type, const uint8_t *v, size_t len)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, v);
	mnl_attr_nest_end(nlh, nest);
}

/* One NEWSETELEM/DELSETELEM for the elements of `set` in e; false when one does not
 * encode or the message would not fit (the caller then uses libnftables). */
static bool put_set_msg(struct mnl_nlmsg_batch *batch, int type, int set, const struct nat_elems *e,
			uint32_t seq, size_t *msgs)
{
	size_t room = mnl_nlmsg_batch_size(batch), total = 65536;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(batch));
	struct nfgenmsg *nfg;
	struct nlattr *list;
	bool any = false;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)nat_table_family[nat_set_table(set)];
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, "ctnet");
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nat_set_names[set]);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = 0; i < e->n; i++) {
		const struct nat_elem *el = &e->v[i];

		if (el->set != set)
			continue;
		/* Keep room for the counter nest and the batch end. */
		if (room + nlh->nlmsg_len + 256 > total)
			return false;
		/* Interval sets hold ranges (start and end elements): libnftables writes them. */
		if (!el->klen || nat_set_is_interval(set) || (nat_set_layout[set][1][0] != F_END) != (el->dlen != 0))
			return false;
		struct nlattr *nest = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		put_data(nlh, NFTA_SET_ELEM_KEY, el->kd, el->klen);
		if (type == NFT_MSG_NEWSETELEM && el->dlen)
			put_data(nlh, NFTA_SET_ELEM_DATA, el->kd + el->klen, el->dlen);
		if (type == NFT_MSG_NEWSETELEM && has_counter(set)) {
			struct nlattr *ex = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_EXPRESSIONS);
			struct nlattr *one = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
			mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "counter");
			struct nlattr *d = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
			mnl_attr_put_u64(nlh, NFTA_COUNTER_BYTES, 0);
			mnl_attr_put_u64(nlh, NFTA_COUNTER_PACKETS, 0);
			mnl_attr_nest_end(nlh, d);
			mnl_attr_nest_end(nlh, one);
			mnl_attr_nest_end(nlh, ex);
		}
		mnl_attr_nest_end(nlh, nest);
		any = true;
	}
	mnl_attr_nest_end(nlh, list);
	if (any) {
		mnl_nlmsg_batch_next(batch);
		(*msgs)++;
	}
	return true;
}

static void put_batch_marker(struct mnl_nlmsg_batch *batch, int type, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(batch));
	struct nfgenmsg *nfg;
	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
	mnl_nlmsg_batch_next(batch);
}

int nat_kernel_write(struct ctnet_kern *kern, const struct nat_elems *del, const struct nat_elems *add,
		     struct ctnet_err *err)
{
	/* The batch is at most 64 KiB; one request per set and direction. */
	char *buf = calloc(1, 65536 + 4096); /* attribute padding is sent too */
	struct ctnet_nl_req req[2 * NAT_S_COUNT];
	struct mnl_nlmsg_batch *batch = buf ? mnl_nlmsg_batch_start(buf, 65536) : NULL;
	struct ctnet_nl *nl;
	size_t msgs = 0;
	int r;

	if (!batch) {
		free(buf);
		return ctnet_errf(err, ENOMEM, "nftables table \"%s\": out of memory", NAT_TABLE);
	}
	put_batch_marker(batch, NFNL_MSG_BATCH_BEGIN, 0);
	for (int s = 0; s < NAT_S_COUNT; s++)
		if (!put_set_msg(batch, NFT_MSG_DELSETELEM, s, del, 0, &msgs)) {
			r = -E2BIG;
			goto out;
		}
	for (int s = 0; s < NAT_S_COUNT; s++)
		if (!put_set_msg(batch, NFT_MSG_NEWSETELEM, s, add, 0, &msgs)) {
			r = -E2BIG;
			goto out;
		}
	put_batch_marker(batch, NFNL_MSG_BATCH_END, 0);
	r = 0;
	if (msgs == 0)
		goto out;
	memset(req, 0, sizeof(req));
	for (size_t i = 0; i < msgs; i++)
		snprintf(req[i].what, sizeof(req[i].what), "nftables table \"%s\"", NAT_TABLE);
	/* One ack per message (errors included); the transaction applies whole or not at all. */
	if ((r = ctnet_kern_nf(kern, &nl, err)) < 0 ||
	    (r = ctnet_nl_talk(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch), req, msgs, err)) < 0)
		goto out;
	if (del->n)
		kern->nf_deleted = true;
out:
	mnl_nlmsg_batch_stop(batch);
	free(buf);
	return r;
}
