/*
 * tun.node — a Linux TUN device for Node (N-API 8, libuv). See daemon/src/network/tun/tun.linux.ts.
 *
 * Why it reads the way it does (numbers in /work/shared/notes/tun.md): blocking reads on libuv's
 * threadpool starve fs/dns and hang process.exit(), so the fd is non-blocking and watched by a
 * uv_poll handle on the main loop; when it is readable we read in a loop until EAGAIN (at most
 * `maxBatch` packets, so other I/O gets its turn; epoll is level-triggered and calls again) and
 * hand the whole batch to JS in one napi_make_callback: one Buffer holding the packets back to
 * back, their lengths in a Uint32Array the caller gave us.
 *
 * Checksum offload (`new Tun(name, true)`): IFF_VNET_HDR puts a 10-byte virtio_net_hdr before
 * every packet read and written, and TUNSETOFFLOAD(TUN_F_CSUM) tells the kernel the device sums TCP
 * and UDP itself. The kernel then hands over locally built packets without summing their payload
 * (the checksum field holds only the pseudo-header sum), and every TCP/UDP packet written gets
 * VIRTIO_NET_HDR_F_NEEDS_CSUM with its pseudo-header sum put in the checksum field here, so nobody
 * sums the payload on the way to a local socket (the kernel treats such packets as it treats a
 * veth peer's, and completes the sum if it ever forwards one to a real NIC). The header never
 * reaches JS: reads strip it, writes add it.
 *
 * Lifetime: the JS object is held strongly from open until close(), like an fd; close() stops the
 * watcher and closes the fd at once (the kernel then removes the non-persistent device and its
 * addresses and routes). The struct is freed once the uv handle has closed and the JS wrapper is
 * gone. An async cleanup hook closes everything when the environment (e.g. a worker) is torn down.
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Large enough for any IPv4/IPv6 packet a TUN without offloads can hand over (its MTU is at most
 * 65535), so a later `ip link set mtu` cannot make reads truncate silently. */
#define READ_SIZE 65536
/* Packets of one batch are read back to back into this; with MTU 1500 it holds 256 of them. */
#define SCRATCH_SIZE (1024 * 1024)
#define DEFAULT_MAX_BATCH 256

typedef struct tun_s {
  napi_env env;
  int fd;
  char name[IFNAMSIZ];

  uv_poll_t poll;
  int poll_inited;   /* uv_poll_init done; uv_close needed */
  int reading;       /* the watcher is started */
  int want_ref;      /* keep the event loop alive while reading */
  int closed;        /* close() ran: fd closed, no more callbacks */
  int handle_closed; /* uv close callback ran (or no handle was ever made) */
  int wrapper_gone;  /* the JS finalizer ran */

  napi_ref self;     /* strong until close() */
  napi_ref callback; /* (err, buf, count) */
  napi_ref lengths_ref;
  uint32_t *lengths;
  uint32_t max_batch;
  int separate;    /* deliver an array of Buffers instead (for the benchmark's comparison) */
  int vnet;        /* IFF_VNET_HDR + TUN_F_CSUM: a virtio_net_hdr before each packet */
  int in_callback; /* inside napi_make_callback: keep async_ctx alive until it returns */
  napi_async_context async_ctx;
  uint8_t *scratch;
  napi_async_cleanup_hook_handle cleanup;
} tun_t;

/* ---------- small helpers ---------- */

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return throw_last(env, #call);                                         \
  } while (0)

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "tun: %s failed: %s", what,
           info && info->error_message ? info->error_message : "unknown N-API error");
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* An Error shaped like Node's system errors: message "syscall CODE: text", .code, .errno, .syscall. */
static napi_value errno_error(napi_env env, const char *syscall, int err) {
  const char *code = uv_err_name(uv_translate_sys_error(err));
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, code, strerror(err));
  napi_value jcode, jmsg, e, jerrno, jsys;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, jcode, jmsg, &e);
  napi_create_int32(env, -err, &jerrno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, e, "errno", jerrno);
  napi_set_named_property(env, e, "syscall", jsys);
  return e;
}

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_throw(env, errno_error(env, syscall, err));
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static tun_t *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  tun_t *t = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, (void **)&t) != napi_ok || t == NULL) {
    napi_throw_type_error(env, NULL, "tun: not a Tun object");
    return NULL;
  }
  return t;
}

static napi_value require_open(napi_env env, tun_t *t) {
  if (t->closed) {
    napi_throw(env, errno_error(env, "tun", EBADF));
    return NULL;
  }
  return undefined(env);
}

/* Pointer and length of a Uint8Array (Buffer included). */
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  if (napi_get_typedarray_info(env, v, &type, len, (void **)data, NULL, NULL) != napi_ok) return 0;
  return type == napi_uint8_array;
}

/* ---------- lifetime ---------- */

static void maybe_free(tun_t *t) {
  if (!t->wrapper_gone || !t->handle_closed) return;
  free(t->scratch);
  free(t);
}

static void on_handle_closed(uv_handle_t *h) {
  tun_t *t = (tun_t *)h->data;
  t->handle_closed = 1;
  if (t->cleanup != NULL) {
    napi_remove_async_cleanup_hook(t->cleanup);
    t->cleanup = NULL;
  }
  maybe_free(t);
}

/* Stops the watcher and closes the fd now (so the device is gone when this returns); the uv
 * handle finishes closing on the next loop turn. `teardown`: the environment is going away, so
 * make no N-API calls beyond what the cleanup hook protocol needs. */
static void close_tun(tun_t *t, int teardown) {
  if (t->closed) return;
  t->closed = 1;
  if (t->poll_inited) {
    /* uv_poll_stop removes the fd from epoll at once, so closing it right after is safe. */
    uv_poll_stop(&t->poll);
    t->reading = 0;
  }
  if (t->fd >= 0) {
    close(t->fd);
    t->fd = -1;
  }
  if (!teardown) {
    napi_env env = t->env;
    if (t->callback) napi_delete_reference(env, t->callback);
    if (t->lengths_ref) napi_delete_reference(env, t->lengths_ref);
    /* close() from the packet listener: on_poll destroys the context once the callback returns. */
    if (t->async_ctx && !t->in_callback) {
      napi_async_destroy(env, t->async_ctx);
      t->async_ctx = NULL;
    }
    if (t->self) napi_delete_reference(env, t->self);
  }
  t->callback = NULL;
  t->lengths_ref = NULL;
  t->lengths = NULL;
  t->self = NULL;
  if (t->poll_inited) {
    uv_close((uv_handle_t *)&t->poll, on_handle_closed);
  } else {
    /* No handle to wait for; on_handle_closed does the bookkeeping without touching uv. */
    t->poll.data = t;
    on_handle_closed((uv_handle_t *)&t->poll);
  }
}

static void on_env_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  tun_t *t = (tun_t *)arg;
  (void)handle;
  if (t->closed) return; /* close() already runs the removal */
  close_tun(t, 1);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tun_t *t = (tun_t *)data;
  t->wrapper_gone = 1;
  maybe_free(t);
}

/* ---------- reading ---------- */

static void call_js(tun_t *t, int argc, napi_value *argv) {
  napi_env env = t->env;
  napi_value cb, recv, result;
  if (t->callback == NULL || napi_get_reference_value(env, t->callback, &cb) != napi_ok) return;
  napi_get_global(env, &recv); /* MakeCallback wants an object receiver */
  t->in_callback++;
  napi_status s = napi_make_callback(env, t->async_ctx, recv, cb, (size_t)argc, argv, &result);
  t->in_callback--;
  if (s == napi_pending_exception) {
    /* An exception in the listener is an uncaught exception, as in a socket's 'data' handler. */
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void stop_reading(tun_t *t) {
  if (t->reading) {
    uv_poll_stop(&t->poll);
    t->reading = 0;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tun_t *t = (tun_t *)h->data;
  (void)events;
  if (t->closed || !t->reading) return;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  int err = 0;
  const char *syscall = "read";
  uint32_t n = 0;
  size_t off = 0;
  if (status < 0) {
    err = -status;
    syscall = "poll";
  } else {
    struct virtio_net_hdr hdr;
    while (n < t->max_batch && SCRATCH_SIZE - off >= READ_SIZE) {
      ssize_t r;
      if (t->vnet) {
        struct iovec iov[2] = {{&hdr, sizeof hdr}, {t->scratch + off, READ_SIZE}};
        r = readv(t->fd, iov, 2);
        if (r >= 0) r = r > (ssize_t)sizeof hdr ? r - (ssize_t)sizeof hdr : 0;
      } else {
        r = read(t->fd, t->scratch + off, READ_SIZE);
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      if (r == 0) break;
      t->lengths[n++] = (uint32_t)r;
      off += (size_t)r;
    }
  }

  if (n > 0) {
    napi_value argv[3];
    napi_status s = napi_get_null(env, &argv[0]);
    if (t->separate) {
      size_t o = 0;
      s = napi_create_array_with_length(env, n, &argv[1]);
      for (uint32_t i = 0; i < n && s == napi_ok; i++) {
        napi_value b;
        s = napi_create_buffer_copy(env, t->lengths[i], t->scratch + o, NULL, &b);
        if (s == napi_ok) s = napi_set_element(env, argv[1], i, b);
        o += t->lengths[i];
      }
    } else {
      s = napi_create_buffer_copy(env, off, t->scratch, NULL, &argv[1]);
    }
    if (s == napi_ok) s = napi_create_uint32(env, n, &argv[2]);
    if (s == napi_ok) {
      call_js(t, 3, argv);
    } else if (err == 0) {
      /* Out of memory, most likely: say so rather than lose the batch without a word. */
      bool pending = false;
      napi_value ignored;
      napi_is_exception_pending(env, &pending);
      if (pending) napi_get_and_clear_last_exception(env, &ignored);
      err = ENOMEM;
      syscall = "read (allocating the batch)";
    }
  }
  if (err != 0 && !t->closed) {
    /* A persistent error (device deleted under us: EBADFD) would make epoll fire forever. */
    stop_reading(t);
    napi_value argv[1] = {errno_error(env, syscall, err)};
    call_js(t, 1, argv);
  }
  if (t->closed && t->async_ctx != NULL && !t->in_callback) {
    napi_async_destroy(env, t->async_ctx);
    t->async_ctx = NULL;
  }
  napi_close_handle_scope(env, scope);
}

/* ---------- methods ---------- */

/* new Tun(name?: string, offload?: boolean): opens /dev/net/tun and attaches (or creates) the
 * device; `offload` turns on the checksum offload described at the top. */
static napi_value js_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));

  bool offload = false;
  if (argc >= 2) {
    napi_valuetype vt;
    CHECK(napi_typeof(env, argv[1], &vt));
    if (vt == napi_boolean) CHECK(napi_get_value_bool(env, argv[1], &offload));
    else if (vt != napi_undefined) {
      napi_throw_type_error(env, NULL, "tun: offload must be a boolean");
      return NULL;
    }
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  if (argc >= 1) {
    napi_valuetype vt;
    CHECK(napi_typeof(env, argv[0], &vt));
    if (vt == napi_string) {
      size_t len = 0;
      CHECK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
      if (len >= IFNAMSIZ) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "tun: interface name longer than 15 bytes");
        return NULL;
      }
      CHECK(napi_get_value_string_utf8(env, argv[0], ifr.ifr_name, IFNAMSIZ, &len));
    } else if (vt != napi_undefined && vt != napi_null) {
      napi_throw_type_error(env, NULL, "tun: name must be a string");
      return NULL;
    }
  }

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "ioctl TUNSETIFF", e);
  }
  if (offload) {
    int size = (int)sizeof(struct virtio_net_hdr);
    const char *what = "ioctl TUNSETVNETHDRSZ";
    int ok = ioctl(fd, TUNSETVNETHDRSZ, &size) == 0;
    if (ok) {
      what = "ioctl TUNSETOFFLOAD";
      ok = ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0;
    }
    if (!ok) {
      int e = errno;
      close(fd);
      return throw_errno(env, what, e);
    }
  }

  tun_t *t = (tun_t *)calloc(1, sizeof *t);
  if (t == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  t->env = env;
  t->fd = fd;
  t->want_ref = 1;
  t->vnet = offload;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  t->poll.data = t;

  if (napi_wrap(env, self, t, on_finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(t);
    return throw_last(env, "napi_wrap");
  }
  /* From here on the finalizer owns `t`; failures below close the device and let it go. */
  if (napi_create_reference(env, self, 1, &t->self) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_env_teardown, t, &t->cleanup) != napi_ok) {
    close_tun(t, 0);
    return throw_last(env, "tun setup");
  }
  napi_value jname;
  CHECK(napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &jname));
  CHECK(napi_set_named_property(env, self, "name", jname));
  napi_value joffload;
  CHECK(napi_get_boolean(env, offload, &joffload));
  CHECK(napi_set_named_property(env, self, "offload", joffload));
  return self;
}

/* start(callback, lengths: Uint32Array): begins reading; the batch size is lengths.length
 * (at most what fits the scratch buffer). callback(err, buf, count). */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL || require_open(env, t) == NULL) return NULL;
  if (argc >= 3) {
    bool sep = false;
    napi_get_value_bool(env, argv[2], &sep);
    t->separate = sep;
  }
  if (t->poll_inited) {
    napi_throw_error(env, NULL, "tun: start() was already called");
    return NULL;
  }
  napi_valuetype vt;
  CHECK(napi_typeof(env, argv[0], &vt));
  bool is_ta = false;
  napi_typedarray_type type = napi_int8_array;
  size_t count = 0;
  void *data = NULL;
  if (argc >= 2) CHECK(napi_is_typedarray(env, argv[1], &is_ta));
  if (is_ta) CHECK(napi_get_typedarray_info(env, argv[1], &type, &count, &data, NULL, NULL));
  if (argc < 2 || vt != napi_function || !is_ta || type != napi_uint32_array || count == 0) {
    napi_throw_type_error(env, NULL, "tun: start(callback, lengths: Uint32Array)");
    return NULL;
  }

  if (t->scratch == NULL) {
    t->scratch = (uint8_t *)malloc(SCRATCH_SIZE);
    if (t->scratch == NULL) return throw_errno(env, "malloc", ENOMEM);
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &t->poll, t->fd);
  if (r < 0) return throw_errno(env, "uv_poll_init", -r);
  t->poll_inited = 1;
  t->poll.data = t;
  if (!t->want_ref) uv_unref((uv_handle_t *)&t->poll);

  napi_value resource, resource_name;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "TELEPATH_TUN", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(napi_async_init(env, resource, resource_name, &t->async_ctx));
  CHECK(napi_create_reference(env, argv[0], 1, &t->callback));
  CHECK(napi_create_reference(env, argv[1], 1, &t->lengths_ref));
  t->lengths = (uint32_t *)data;
  t->max_batch = count < DEFAULT_MAX_BATCH * 4 ? (uint32_t)count : DEFAULT_MAX_BATCH * 4;

  r = uv_poll_start(&t->poll, UV_READABLE, on_poll);
  if (r < 0) return throw_errno(env, "uv_poll_start", -r);
  t->reading = 1;
  return undefined(env);
}

static napi_value js_pause(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  if (!t->closed) stop_reading(t);
  return undefined(env);
}

static napi_value js_resume(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  if (!t->closed && t->poll_inited && !t->reading) {
    int r = uv_poll_start(&t->poll, UV_READABLE, on_poll);
    if (r < 0) return throw_errno(env, "uv_poll_start", -r);
    t->reading = 1;
  }
  return undefined(env);
}

static napi_value set_ref(napi_env env, napi_callback_info info, int want) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  t->want_ref = want;
  if (t->poll_inited && !t->closed) {
    if (want) uv_ref((uv_handle_t *)&t->poll);
    else uv_unref((uv_handle_t *)&t->poll);
  }
  return undefined(env);
}

static napi_value js_ref(napi_env env, napi_callback_info info) { return set_ref(env, info, 1); }
static napi_value js_unref(napi_env env, napi_callback_info info) { return set_ref(env, info, 0); }

/* Big-endian 16-bit words of p[0..n) added to s (n even). */
static uint32_t sum_words(const uint8_t *p, size_t n, uint32_t s) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
  return s;
}

/* For a TCP or UDP packet (IPv4 unfragmented, or IPv6 with TCP/UDP as the first next header):
 * puts the pseudo-header sum into its checksum field and fills `hdr` so the kernel sums the rest
 * (NEEDS_CSUM from csum_start, field at csum_start + csum_offset). Anything else: flags 0, the
 * packet as it is. */
static void offload_header(uint8_t *p, size_t len, struct virtio_net_hdr *hdr) {
  memset(hdr, 0, sizeof *hdr);
  size_t start, l4len;
  uint8_t proto;
  uint32_t sum;
  if (len >= 20 && p[0] >> 4 == 4) {
    start = (size_t)(p[0] & 0x0f) * 4;
    size_t total = (size_t)p[2] << 8 | p[3];
    if (start < 20 || total > len || total < start) return;
    if (((p[6] & 0x3f) << 8 | p[7]) != 0) return; /* MF or a fragment offset */
    proto = p[9];
    l4len = total - start;
    sum = sum_words(p + 12, 8, 0);
  } else if (len >= 40 && p[0] >> 4 == 6) {
    start = 40;
    l4len = (size_t)p[4] << 8 | p[5];
    if (start + l4len > len) return;
    proto = p[6];
    sum = sum_words(p + 8, 32, 0);
  } else {
    return;
  }
  size_t field;
  if (proto == IPPROTO_TCP && l4len >= 20) field = 16;
  else if (proto == IPPROTO_UDP && l4len >= 8) field = 6;
  else return;
  sum += proto + (uint32_t)l4len;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[start + field] = (uint8_t)(sum >> 8);
  p[start + field + 1] = (uint8_t)sum;
  hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  hdr->gso_type = VIRTIO_NET_HDR_GSO_NONE;
  hdr->csum_start = (uint16_t)start;
  hdr->csum_offset = (uint16_t)field;
}

/* One packet, one write (with offload: header + packet in one writev, which is still one packet).
 * With offload the packet's TCP/UDP checksum field is overwritten (see offload_header). */
static int write_one(tun_t *t, uint8_t *data, size_t len) {
  struct virtio_net_hdr hdr;
  if (t->vnet) offload_header(data, len, &hdr);
  for (;;) {
    ssize_t r, want;
    if (t->vnet) {
      struct iovec iov[2] = {{&hdr, sizeof hdr}, {data, len}};
      want = (ssize_t)(sizeof hdr + len);
      r = writev(t->fd, iov, 2);
    } else {
      want = (ssize_t)len;
      r = write(t->fd, data, len);
    }
    if (r >= 0) return r == want ? 0 : EMSGSIZE; /* a TUN write is one whole packet */
    if (errno != EINTR) return errno;
  }
}

/* write(packet: Uint8Array): throws on any error, EAGAIN included (code 'EAGAIN'). */
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL || require_open(env, t) == NULL) return NULL;
  uint8_t *data;
  size_t len;
  if (argc < 1 || !get_bytes(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, NULL, "tun: write(packet: Uint8Array)");
    return NULL;
  }
  int e = write_one(t, data, len);
  if (e != 0) return throw_errno(env, "write", e);
  return undefined(env);
}

/* writeBatch(packets: Uint8Array[]): writes them in order, one write(2) each (writev would
 * make them one packet). On error throws, with .written = how many went out before it. */
static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL || require_open(env, t) == NULL) return NULL;
  bool is_array = false;
  if (argc >= 1) CHECK(napi_is_array(env, argv[0], &is_array));
  if (!is_array) {
    napi_throw_type_error(env, NULL, "tun: writeBatch(packets: Uint8Array[])");
    return NULL;
  }
  uint32_t n;
  CHECK(napi_get_array_length(env, argv[0], &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    uint8_t *data;
    size_t len;
    CHECK(napi_get_element(env, argv[0], i, &el));
    if (!get_bytes(env, el, &data, &len)) {
      napi_throw_type_error(env, NULL, "tun: writeBatch(packets: Uint8Array[])");
      return NULL;
    }
    int e = write_one(t, data, len);
    if (e != 0) {
      napi_value err = errno_error(env, "write", e), written;
      napi_create_uint32(env, i, &written);
      napi_set_named_property(env, err, "written", written);
      napi_throw(env, err);
      return NULL;
    }
  }
  napi_value result;
  CHECK(napi_create_uint32(env, n, &result));
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  close_tun(t, 0);
  return undefined(env);
}

static napi_value js_fd(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  napi_value v;
  CHECK(napi_create_int32(env, t->fd, &v));
  return v;
}

/* ---------- link settings (by name, on an AF_INET socket in this network namespace) ---------- */

static int get_name_arg(napi_env env, napi_value v, struct ifreq *ifr) {
  size_t len = 0;
  memset(ifr, 0, sizeof *ifr);
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "tun: interface name must be a string of 1-15 bytes");
    return 0;
  }
  napi_get_value_string_utf8(env, v, ifr->ifr_name, IFNAMSIZ, &len);
  return 1;
}

static int link_ioctl(unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int e = ioctl(s, req, ifr) < 0 ? errno : 0;
  close(s);
  return e;
}

/* setMtu(name, mtu) */
static napi_value js_set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  struct ifreq ifr;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_name_arg(env, argv[0], &ifr)) return NULL;
  int32_t mtu;
  if (napi_get_value_int32(env, argv[1], &mtu) != napi_ok || mtu < 68 || mtu > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "tun: mtu must be 68..65535");
    return NULL;
  }
  ifr.ifr_mtu = mtu;
  int e = link_ioctl(SIOCSIFMTU, &ifr);
  if (e != 0) return throw_errno(env, "ioctl SIOCSIFMTU", e);
  return undefined(env);
}

/* getMtu(name): number */
static napi_value js_get_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], v;
  struct ifreq ifr;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_name_arg(env, argv[0], &ifr)) return NULL;
  int e = link_ioctl(SIOCGIFMTU, &ifr);
  if (e != 0) return throw_errno(env, "ioctl SIOCGIFMTU", e);
  CHECK(napi_create_int32(env, ifr.ifr_mtu, &v));
  return v;
}

/* setUp(name): sets IFF_UP (the link is then up once a reader has the fd open). */
static napi_value js_set_up(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct ifreq ifr;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_name_arg(env, argv[0], &ifr)) return NULL;
  int e = link_ioctl(SIOCGIFFLAGS, &ifr);
  if (e != 0) return throw_errno(env, "ioctl SIOCGIFFLAGS", e);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  e = link_ioctl(SIOCSIFFLAGS, &ifr);
  if (e != 0) return throw_errno(env, "ioctl SIOCSIFFLAGS", e);
  return undefined(env);
}

/* ---------- module ---------- */

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor methods[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"pause", NULL, js_pause, NULL, NULL, NULL, napi_default_method, NULL},
      {"resume", NULL, js_resume, NULL, NULL, NULL, napi_default_method, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"unref", NULL, js_unref, NULL, NULL, NULL, napi_default_method, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_default_method, NULL},
      {"writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"fd", NULL, NULL, js_fd, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, fn;
  CHECK(napi_define_class(env, "Tun", NAPI_AUTO_LENGTH, js_new, NULL,
                          sizeof methods / sizeof methods[0], methods, &cls));
  CHECK(napi_set_named_property(env, exports, "Tun", cls));
  CHECK(napi_create_function(env, "setMtu", NAPI_AUTO_LENGTH, js_set_mtu, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "setMtu", fn));
  CHECK(napi_create_function(env, "getMtu", NAPI_AUTO_LENGTH, js_get_mtu, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "getMtu", fn));
  CHECK(napi_create_function(env, "setUp", NAPI_AUTO_LENGTH, js_set_up, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "setUp", fn));
  napi_value batch;
  CHECK(napi_create_uint32(env, DEFAULT_MAX_BATCH, &batch));
  CHECK(napi_set_named_property(env, exports, "defaultMaxBatch", batch));
  return exports;
}
