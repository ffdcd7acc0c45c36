/* remote_proto: what ship/remote.c asks of each backend protocol, and what
 * it lends them; internal to ship/remote.c, ship/pyroscope.c (push.v1 and
 * /ingest) and ship/parca.c (profilestore). remote.c picks a protocol's
 * ops by enum remote_protocol once (encoding, remote__new) and never looks
 * at which one it is again.
 *
 * A protocol says:
 *   - what it names each sample type's profiles (names: __name__), which
 *     labels come before a series' own (fixed_labels; a series label of
 *     the same name is then skipped) and how many a series may carry;
 *   - how a profile part joins the batch (add_part): remote__pend gathers
 *     parts into requests of about max_body bytes and packs them with pack
 *     (to path); ingest makes one request per part instead;
 *   - what a request carries besides its body (content type, one header)
 *     and whether a 2xx answer means delivered (check_2xx; NULL: yes).
 *
 * Lent by remote.c:
 *   remote__is_name_char(c, first)      [a-zA-Z_] ([0-9] too but first)
 *   remote__batch_add(b)          appends an empty request; NULL: ENOMEM
 *   remote__pend(e, mapped, gz)   add_part of the packing protocols (gz is
 *                                 moved from)
 *   remote__set_status(st, res, why, fmt...)
 */
#ifndef BRASA_SHIP_REMOTE_PROTO_H
#define BRASA_SHIP_REMOTE_PROTO_H

#include "common/http_client.h"
#include "ship/remote.h"

#define REMOTE_UUID_LEN 36

/* Profile parts waiting to be packed into one request. */
struct remote_part {
	struct buf gz;
	char id[REMOTE_UUID_LEN + 1];
};

struct remote_pending_series {
	struct labels labels;
	struct remote_part *parts;
	size_t n;
};

struct remote_pending {
	struct remote_pending_series *series;
	size_t n;
	size_t bytes, parts;
};

/* One window being encoded into a batch. */
struct remote_encoder {
	const struct remote_encode_opts *o;
	const struct remote_proto *proto;
	const struct upload_window *w;
	struct remote_batch *b;
	struct remote_pending pd;
	size_t max_body;
};

struct remote_proto {
	size_t max_labels;
	/* __name__ by enum pprof_type; NULL: not sent (-EINVAL) */
	const char *names[PPROF_TYPE_MAX];
	/* the first labels of every series, __name__ = name, into out
	 * (empty); *value_cut: a value was cut to REMOTE_MAX_LABEL_VALUE.
	 * 0 or -errno */
	int (*fixed_labels)(const struct labels *in, const struct remote_encode_opts *o,
			    const char *name, struct labels *out, bool *value_cut);
	int (*add_part)(struct remote_encoder *e, const struct labels *mapped, struct buf *gz);
	/* remote__pend's requests: their path, and their body from pd */
	const char *path;
	int (*pack)(const struct remote_pending *pd, struct buf *body);
	const char *content_type;
	struct http_header header;              /* name NULL: none */
	/* a 2xx answer: true when delivered, else st says why */
	bool (*check_2xx)(const struct http_response *resp, struct remote_status *st);
};

extern const struct remote_proto remote_proto_pyroscope;
extern const struct remote_proto remote_proto_pyroscope_ingest;
extern const struct remote_proto remote_proto_parca;

bool remote__is_name_char(char c, bool first);
struct remote_request *remote__batch_add(struct remote_batch *b);
int remote__pend(struct remote_encoder *e, const struct labels *mapped, struct buf *gz);
void remote__set_status(struct remote_status *st, enum remote_result res,
			enum remote_failure why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
