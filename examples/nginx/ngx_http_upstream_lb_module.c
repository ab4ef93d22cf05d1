
/*
 * ngx_http_upstream_lb_module: an nginx upstream balancer that hands every
 * choice to lb (include/lb.h) and reports every outcome back to it, so that
 * lb's strategies and its health tracking (ejection, recovery, slow start)
 * run inside nginx.
 *
 *     upstream backends {
 *         lb peak_ewma choice_count=2 base_ejection_ms=2000;
 *         server 127.0.0.1:8081 weight=3;
 *         server 127.0.0.1:8082 max_conns=100;
 *         keepalive 16;
 *     }
 *
 * Model: nginx workers are processes, and lb's balancers live in one
 * process's memory, so every worker makes its own balancer for every upstream
 * that uses "lb" (in init_process) and balances on its own view of the
 * backends, as nginx's balancers do without "zone".  The configuration is
 * checked in the master, on scratch balancers that are freed at once, so a
 * worker's own build cannot fail for a reason "nginx -t" would not have shown.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdlib.h>
#include <time.h>

#include <lb.h>


typedef struct {
    ngx_str_t                        text;      /* "name=value", for messages */
    lb_option                        option;
    double                           value;
} ngx_http_upstream_lb_option_t;


/* one resolved address of a "server" line: one lb instance */

typedef struct {
    struct sockaddr                 *sockaddr;
    socklen_t                        socklen;
    ngx_str_t                        name;
    ngx_str_t                        server;
#if (NGX_HTTP_SSL)
    ngx_ssl_session_t               *ssl_session;  /* this worker's */
#endif
} ngx_http_upstream_lb_peer_t;


typedef struct {
    ngx_uint_t                       configured;   /* unsigned:1 */
    lb_strategy                      strategy;
    ngx_str_t                        strategy_name;
    ngx_array_t                     *options;
    ngx_http_complex_value_t        *key;

    /* instance i (0-based) has the lb id i + 1 */
    ngx_http_upstream_lb_peer_t     *peers;
    lb_instance                     *instances;
    ngx_uint_t                       npeers;

    ngx_http_upstream_srv_conf_t    *upstream;

    lb_balancer                     *lb;           /* this worker's */
} ngx_http_upstream_lb_srv_conf_t;


typedef struct {
    ngx_array_t                      upstreams;
                                     /* ngx_http_upstream_lb_srv_conf_t * */
} ngx_http_upstream_lb_main_conf_t;


/* one request's state, across its tries */

typedef struct {
    ngx_http_upstream_lb_srv_conf_t *conf;
    ngx_http_request_t              *request;
    ngx_http_upstream_lb_peer_t     *current;

    lb_pick                          pick;
    uint64_t                         started_us;
    uint64_t                         key;

    uint64_t                        *tried;        /* ids, no repeats */
    ngx_uint_t                       ntried;

    unsigned                         keyed:1;
    unsigned                         picked:1;    /* pick not yet reported */
} ngx_http_upstream_lb_peer_data_t;


static ngx_int_t ngx_http_upstream_init_lb(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_upstream_init_lb_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_upstream_get_lb_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_upstream_free_lb_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static lb_outcome ngx_http_upstream_lb_outcome(ngx_peer_connection_t *pc,
    ngx_http_upstream_lb_peer_data_t *lp, ngx_uint_t state);
static void ngx_http_upstream_lb_remember(
    ngx_http_upstream_lb_peer_data_t *lp, uint64_t id);

#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_upstream_lb_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_upstream_lb_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif

static lb_status ngx_http_upstream_lb_build(
    ngx_http_upstream_lb_srv_conf_t *lcf, lb_balancer **out,
    ngx_http_upstream_lb_option_t **failed);
static uint64_t ngx_http_upstream_lb_now_us(void);
static u_char *ngx_http_upstream_lb_strategy_text(u_char *p,
    lb_strategy strategy);

static ngx_int_t ngx_http_upstream_lb_status_handler(ngx_http_request_t *r);

static char *ngx_http_upstream_lb(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_upstream_lb_key(ngx_conf_t *cf,
    ngx_http_upstream_lb_srv_conf_t *lcf, ngx_str_t *value);
static char *ngx_http_upstream_lb_option(ngx_conf_t *cf,
    ngx_http_upstream_lb_srv_conf_t *lcf, lb_balancer *scratch,
    ngx_str_t *value);
static char *ngx_http_upstream_lb_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static void *ngx_http_upstream_lb_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_upstream_lb_create_srv_conf(ngx_conf_t *cf);

static ngx_int_t ngx_http_upstream_lb_init_process(ngx_cycle_t *cycle);
static void ngx_http_upstream_lb_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_upstream_lb_commands[] = {

    { ngx_string("lb"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_upstream_lb,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("lb_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_upstream_lb_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_upstream_lb_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_upstream_lb_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_upstream_lb_create_srv_conf,  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_upstream_lb_module = {
    NGX_MODULE_V1,
    &ngx_http_upstream_lb_module_ctx,      /* module context */
    ngx_http_upstream_lb_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_upstream_lb_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_upstream_lb_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * Called at configuration time (in the master, and by "nginx -t") for an
 * upstream whose balancer is "lb", possibly through keepalive's own
 * init_upstream: turns the "server" lines into the instance set and checks
 * that lb accepts the whole configuration.
 */

static ngx_int_t
ngx_http_upstream_init_lb(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                         i, j, n;
    lb_status                          st;
    lb_balancer                       *scratch;
    ngx_http_upstream_server_t        *server;
    ngx_http_upstream_lb_peer_t       *peer;
    ngx_http_upstream_lb_option_t     *failed;
    ngx_http_upstream_lb_srv_conf_t   *lcf, **lcfp;
    ngx_http_upstream_lb_main_conf_t  *lmcf;

    lcf = ngx_http_conf_upstream_srv_conf(us, ngx_http_upstream_lb_module);

#if (NGX_HTTP_UPSTREAM_ZONE)
    /*
     * "zone" shares round robin's peer list between workers; lb keeps its
     * state in each worker's memory and has no such list to share.
     */
    if (us->shm_zone) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"zone\" cannot be used with \"lb\" in upstream "
                      "\"%V\" in %s:%ui: each worker keeps its own lb state",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }
#endif

    if (us->servers == NULL || us->servers->nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "no servers in upstream \"%V\" in %s:%ui",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    server = us->servers->elts;
    n = 0;

    for (i = 0; i < us->servers->nelts; i++) {

        /*
         * lb has no second tier: it ejects failing instances by itself and
         * falls back to all of them in panic mode, so a backup server
         * would never be used as the configuration suggests.
         */
        if (server[i].backup) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"backup\" server \"%V\" is not supported by "
                          "\"lb\" in upstream \"%V\" in %s:%ui: lb ejects "
                          "failing servers itself and has no backup tier",
                          &server[i].name, &us->host, us->file_name,
                          us->line);
            return NGX_ERROR;
        }

        /* 1 and 10s are the defaults of the "server" directive */

        if (server[i].max_fails != 1 || server[i].fail_timeout != 10) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"max_fails\" and \"fail_timeout\" of server "
                          "\"%V\" are ignored by \"lb\" in upstream \"%V\" "
                          "in %s:%ui: lb tracks health itself",
                          &server[i].name, &us->host, us->file_name,
                          us->line);
        }

        if (server[i].weight > NGX_MAX_UINT32_VALUE
            || server[i].max_conns > NGX_MAX_UINT32_VALUE)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "weight or max_conns of server \"%V\" too large "
                          "for \"lb\" in upstream \"%V\" in %s:%ui",
                          &server[i].name, &us->host, us->file_name,
                          us->line);
            return NGX_ERROR;
        }

        if (!server[i].down) {
            n += server[i].naddrs;
        }
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "every server of upstream \"%V\" in %s:%ui is down",
                      &us->host, us->file_name, us->line);
    }

    peer = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_upstream_lb_peer_t) * (n ? n : 1));
    lcf->instances = ngx_pcalloc(cf->pool, sizeof(lb_instance) * (n ? n : 1));
    if (peer == NULL || lcf->instances == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < us->servers->nelts; i++) {

        /* a down server is simply not in the set: lb never sees it */

        if (server[i].down) {
            continue;
        }

        for (j = 0; j < server[i].naddrs; j++) {
            peer[n].sockaddr = server[i].addrs[j].sockaddr;
            peer[n].socklen = server[i].addrs[j].socklen;
            peer[n].name = server[i].addrs[j].name;
            peer[n].server = server[i].name;

            lcf->instances[n].id = n + 1;
            lcf->instances[n].weight = (uint32_t) server[i].weight;
            lcf->instances[n].capacity = (uint32_t) server[i].max_conns;
            n++;
        }
    }

    lcf->peers = peer;
    lcf->npeers = n;
    lcf->upstream = us;

    st = ngx_http_upstream_lb_build(lcf, &scratch, &failed);

    if (st != LB_STATUS_OK) {
        if (failed) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "lb refused option \"%V\" in upstream \"%V\" "
                          "in %s:%ui: %s", &failed->text, &us->host,
                          us->file_name, us->line, lb_status_str(st));

        } else {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "lb refused the servers of upstream \"%V\" "
                          "in %s:%ui: %s", &us->host, us->file_name,
                          us->line, lb_status_str(st));
        }

        return NGX_ERROR;
    }

    lb_balancer_free(scratch);

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_lb_module);

    lcfp = ngx_array_push(&lmcf->upstreams);
    if (lcfp == NULL) {
        return NGX_ERROR;
    }

    *lcfp = lcf;

    us->peer.init = ngx_http_upstream_init_lb_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_init_lb_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_str_t                          key;
    ngx_http_upstream_t               *u;
    ngx_http_upstream_lb_srv_conf_t   *lcf;
    ngx_http_upstream_lb_peer_data_t  *lp;

    lcf = ngx_http_conf_upstream_srv_conf(us, ngx_http_upstream_lb_module);

    if (lcf->lb == NULL) {
        /* init_process did not run for this cycle: nothing to balance on */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "no lb balancer for upstream \"%V\" in this process",
                      &us->host);
        return NGX_ERROR;
    }

    lp = ngx_pcalloc(r->pool, sizeof(ngx_http_upstream_lb_peer_data_t));
    if (lp == NULL) {
        return NGX_ERROR;
    }

    lp->conf = lcf;
    lp->request = r;

    if (lcf->key) {
        if (ngx_http_complex_value(r, lcf->key, &key) != NGX_OK) {
            return NGX_ERROR;
        }

        lp->key = lb_hash_bytes(key.data, key.len);
        lp->keyed = 1;
    }

    u = r->upstream;

    u->peer.data = lp;
    u->peer.get = ngx_http_upstream_get_lb_peer;
    u->peer.free = ngx_http_upstream_free_lb_peer;

    /* one try per instance, as round robin gives one per peer */
    u->peer.tries = lcf->npeers;

#if (NGX_HTTP_SSL)
    u->peer.set_session = ngx_http_upstream_lb_set_session;
    u->peer.save_session = ngx_http_upstream_lb_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_get_lb_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_upstream_lb_peer_data_t  *lp = data;

    uint64_t                          id;
    lb_status                         st;
    lb_balancer                      *lb;
    ngx_http_upstream_lb_peer_t      *peer;
    ngx_http_upstream_lb_srv_conf_t  *lcf;

    lcf = lp->conf;
    lb = lcf->lb;

    pc->cached = 0;
    pc->connection = NULL;

    if (lp->picked) {
        /* nginx always frees before it asks again; never leak a pick */
        (void) lb_report(lb, &lp->pick, LB_OUTCOME_CANCELLED, 0);
        lp->picked = 0;
    }

    /* a retry avoids the instances this request has already tried */

    if (lp->keyed) {
        st = lp->ntried
             ? lb_select_key_excluding(lb, lp->key, lp->tried, lp->ntried,
                                       &lp->pick)
             : lb_select_key(lb, lp->key, &lp->pick);

    } else {
        st = lp->ntried
             ? lb_select_excluding(lb, lp->tried, lp->ntried, &lp->pick)
             : lb_select(lb, &lp->pick);
    }

    if (st != LB_STATUS_OK) {
        ngx_log_error(NGX_LOG_WARN, pc->log, 0,
                      "lb selected no server in upstream \"%V\": %s",
                      &lcf->upstream->host, lb_status_str(st));

        /*
         * lb fails only when no instance at all can be taken (retries fall
         * back to the ones already tried), so another try now would fail
         * the same way: tell nginx to give up.
         */
        pc->name = &lcf->upstream->host;
        pc->tries = 0;

        return NGX_BUSY;
    }

    id = lp->pick.instance_id;

    if (id == 0 || id > lcf->npeers) {
        /* cannot happen: lb only hands out the ids it was given */
        (void) lb_report(lb, &lp->pick, LB_OUTCOME_CANCELLED, 0);
        ngx_log_error(NGX_LOG_ALERT, pc->log, 0,
                      "lb picked unknown instance %uL in upstream \"%V\"",
                      id, &lcf->upstream->host);
        return NGX_ERROR;
    }

    peer = &lcf->peers[id - 1];

    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;

    lp->current = peer;
    lp->picked = 1;
    lp->started_us = ngx_http_upstream_lb_now_us();

    return NGX_OK;
}


/*
 * nginx calls free once for every get that returned a peer: from
 * ngx_http_upstream_next() with NGX_PEER_FAILED or NGX_PEER_NEXT before a
 * retry, from ngx_http_upstream_finalize_request() with 0.  That is where
 * the pick is reported, exactly once.
 */

static void
ngx_http_upstream_free_lb_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_upstream_lb_peer_data_t  *lp = data;

    uint64_t     now, latency;
    lb_status    st;
    lb_outcome   outcome;

    if (pc->tries) {
        pc->tries--;
    }

    if (!lp->picked) {
        return;
    }

    lp->picked = 0;

    now = ngx_http_upstream_lb_now_us();
    latency = now > lp->started_us ? now - lp->started_us : 0;

    outcome = ngx_http_upstream_lb_outcome(pc, lp, state);

    st = lb_report(lp->conf->lb, &lp->pick, outcome, latency);

    if (st != LB_STATUS_OK) {
        /* an expired pick (see pick_timeout_ms); lb has settled it */
        ngx_log_error(NGX_LOG_INFO, pc->log, 0,
                      "lb did not take the report on \"%V\": %s",
                      &lp->current->name, lb_status_str(st));
    }

    if (state & (NGX_PEER_FAILED|NGX_PEER_NEXT)) {
        ngx_http_upstream_lb_remember(lp, lp->pick.instance_id);
    }
}


static lb_outcome
ngx_http_upstream_lb_outcome(ngx_peer_connection_t *pc,
    ngx_http_upstream_lb_peer_data_t *lp, ngx_uint_t state)
{
    ngx_uint_t            status;
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = lp->request->upstream;

    /* the status line of the backend's answer, 0 before it came */
    status = u->headers_in.status_n;

    if (state & NGX_PEER_FAILED) {

        /*
         * An error on a keepalive connection reused from the cache, before
         * any answer and without a timeout, is most often the backend
         * having closed the idle connection: it says nothing about the
         * backend's health, and nginx itself does not count it as a try.
         * A backend that is really gone fails the next, fresh connection.
         */

        c = pc->connection;

        if (pc->cached && status == 0 && c != NULL
            && !c->read->timedout && !c->write->timedout)
        {
            return LB_OUTCOME_CANCELLED;
        }

        /* connect error, timeout, bad header, or a next_upstream http_5xx */
        return LB_OUTCOME_FAILURE;
    }

    if (status == 0) {
        /*
         * Finalized before the backend answered without nginx blaming it:
         * the client went away (499), or nginx itself failed the request.
         */
        return LB_OUTCOME_CANCELLED;
    }

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        /* a 5xx passed on to the client still means the backend failed */
        return LB_OUTCOME_FAILURE;
    }

    return LB_OUTCOME_SUCCESS;
}


static void
ngx_http_upstream_lb_remember(ngx_http_upstream_lb_peer_data_t *lp,
    uint64_t id)
{
    ngx_uint_t  i;

    /* only requests that retry pay for the list, sized once for all ids */

    if (lp->tried == NULL) {
        lp->tried = ngx_palloc(lp->request->pool,
                               sizeof(uint64_t) * lp->conf->npeers);
        if (lp->tried == NULL) {
            return;
        }
    }

    for (i = 0; i < lp->ntried; i++) {
        if (lp->tried[i] == id) {
            return;
        }
    }

    /* ids are 1..npeers and never repeat here, so the list cannot overflow */

    if (lp->ntried < lp->conf->npeers) {
        lp->tried[lp->ntried++] = id;
    }
}


#if (NGX_HTTP_SSL)

/*
 * nginx's upstream code calls these without checking for NULL whenever
 * proxy_ssl_session_reuse is on (the default), so a balancer must have them;
 * like round robin without "zone", each worker keeps one session per
 * instance.
 */

static ngx_int_t
ngx_http_upstream_lb_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_upstream_lb_peer_data_t  *lp = data;

    if (lp->current == NULL || lp->current->ssl_session == NULL) {
        return NGX_OK;
    }

    return ngx_ssl_set_session(pc->connection, lp->current->ssl_session);
}


static void
ngx_http_upstream_lb_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_upstream_lb_peer_data_t  *lp = data;

    ngx_ssl_session_t  *old, *session;

    if (lp->current == NULL) {
        return;
    }

    session = ngx_ssl_get_session(pc->connection);
    if (session == NULL) {
        return;
    }

    old = lp->current->ssl_session;
    lp->current->ssl_session = session;

    if (old) {
        ngx_ssl_free_session(old);
    }
}

#endif


/*
 * The one place that turns a configuration into a balancer: the scratch
 * check at configuration time and each worker's own build run the same
 * steps, options in the order they were written (lb checks some against
 * others, e.g. base_ejection_ms against max_ejection_ms).
 */

static lb_status
ngx_http_upstream_lb_build(ngx_http_upstream_lb_srv_conf_t *lcf,
    lb_balancer **out, ngx_http_upstream_lb_option_t **failed)
{
    ngx_uint_t                      i;
    lb_status                       st;
    lb_balancer                    *lb;
    ngx_http_upstream_lb_option_t  *opt;

    *out = NULL;
    *failed = NULL;

    st = lb_balancer_new(lcf->strategy, &lb);
    if (st != LB_STATUS_OK) {
        return st;
    }

    opt = lcf->options->elts;

    for (i = 0; i < lcf->options->nelts; i++) {
        st = lb_set_option(lb, opt[i].option, opt[i].value);
        if (st != LB_STATUS_OK) {
            *failed = &opt[i];
            goto failed;
        }
    }

    st = lb_set_instances(lb, lcf->instances, lcf->npeers);
    if (st != LB_STATUS_OK) {
        goto failed;
    }

    *out = lb;

    return LB_STATUS_OK;

failed:

    lb_balancer_free(lb);

    return st;
}


static uint64_t
ngx_http_upstream_lb_now_us(void)
{
    struct timespec  ts;

    /* monotonic, so a clock step cannot make a latency negative or huge */

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


/*
 * The status page names the strategy adaptive runs now.  lb has no number to
 * name function, so the names of the README are checked against lb's own
 * table (lb_strategy_from_name): a name lb does not know is never shown, and
 * a strategy not listed here shows as its number.
 */

static u_char *
ngx_http_upstream_lb_strategy_text(u_char *p, lb_strategy strategy)
{
    ngx_uint_t   i;
    lb_strategy  s;

    static ngx_str_t  names[] = {
        ngx_string("round_robin"),
        ngx_string("least_connections"),
        ngx_string("weighted_response_time"),
        ngx_string("adaptive"),
        ngx_string("least_request"),
        ngx_string("peak_ewma"),
        ngx_string("maglev"),
        ngx_string("ring_hash")
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (lb_strategy_from_name((const char *) names[i].data, names[i].len,
                                  &s)
            == LB_STATUS_OK
            && s == strategy)
        {
            return ngx_sprintf(p, "%V", &names[i]);
        }
    }

    return ngx_sprintf(p, "%uD", strategy);
}


/* the "lb_status" page: this worker's view, one block per lb upstream */

#define NGX_HTTP_UPSTREAM_LB_STATUS_HEAD  1024
#define NGX_HTTP_UPSTREAM_LB_STATUS_LINE  512


static ngx_int_t
ngx_http_upstream_lb_status_handler(ngx_http_request_t *r)
{
    size_t                             size, count;
    ngx_int_t                          rc;
    ngx_buf_t                         *b;
    ngx_uint_t                         i, j;
    lb_stats                           stats;
    lb_status                          st;
    lb_health                         *health;
    ngx_chain_t                        out;
    ngx_http_upstream_lb_peer_t       *peer;
    ngx_http_upstream_lb_srv_conf_t  **lcfp, *lcf;
    ngx_http_upstream_lb_main_conf_t  *lmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_lb_module);
    lcfp = lmcf->upstreams.elts;

    size = NGX_HTTP_UPSTREAM_LB_STATUS_HEAD;

    for (i = 0; i < lmcf->upstreams.nelts; i++) {
        lcf = lcfp[i];
        size += NGX_HTTP_UPSTREAM_LB_STATUS_HEAD + lcf->upstream->host.len
                + lcf->strategy_name.len;

        for (j = 0; j < lcf->npeers; j++) {
            size += NGX_HTTP_UPSTREAM_LB_STATUS_LINE + lcf->peers[j].name.len
                    + lcf->peers[j].server.len;
        }
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "lb %s, worker %P, upstreams %ui\n",
                          lb_version(), ngx_pid, lmcf->upstreams.nelts);

    for (i = 0; i < lmcf->upstreams.nelts; i++) {
        lcf = lcfp[i];

        b->last = ngx_sprintf(b->last, "\nupstream %V strategy %V",
                              &lcf->upstream->host, &lcf->strategy_name);

        if (lcf->lb == NULL) {
            b->last = ngx_sprintf(b->last, " (no balancer)\n");
            continue;
        }

        st = lb_get_stats(lcf->lb, &stats);
        if (st != LB_STATUS_OK) {
            b->last = ngx_sprintf(b->last, " (stats: %s)\n",
                                  lb_status_str(st));
            continue;
        }

        b->last = ngx_sprintf(b->last, " active ");
        b->last = ngx_http_upstream_lb_strategy_text(b->last,
                                                     stats.active_strategy);

        b->last = ngx_sprintf(b->last,
                              "\n  requests %uL successes %uL failures %uL"
                              " cancelled %uL expired %uL in_flight %uL\n"
                              "  avg_latency_us %.1f instances %uD"
                              " healthy %uD strategy_switches %uL"
                              " adaptive_trials %uL\n",
                              stats.total_requests, stats.successes,
                              stats.failures, stats.cancelled, stats.expired,
                              stats.in_flight, stats.avg_latency_us,
                              stats.instance_count, stats.healthy_count,
                              stats.strategy_switches, stats.adaptive_trials);

        if (lcf->npeers == 0) {
            continue;
        }

        health = ngx_palloc(r->pool, sizeof(lb_health) * lcf->npeers);
        if (health == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the set changes only in init_process, so npeers always fits */

        st = lb_get_all_health(lcf->lb, health, lcf->npeers, &count);
        if (st != LB_STATUS_OK) {
            b->last = ngx_sprintf(b->last, "  (health: %s)\n",
                                  lb_status_str(st));
            continue;
        }

        for (j = 0; j < count && j < lcf->npeers; j++) {
            if (health[j].instance_id == 0
                || health[j].instance_id > lcf->npeers)
            {
                continue;
            }

            peer = &lcf->peers[health[j].instance_id - 1];

            b->last = ngx_sprintf(b->last,
                                  "  instance %uL %V server %V"
                                  " weight %uD capacity %uD healthy %d"
                                  " health %.3f in_flight %uL requests %uL"
                                  " successes %uL failures %uL"
                                  " consecutive_failures %uL"
                                  " success_rate %.3f latency_ewma_us %.1f\n",
                                  health[j].instance_id, &peer->name,
                                  &peer->server, health[j].weight,
                                  health[j].capacity,
                                  (int) health[j].healthy,
                                  health[j].health_score,
                                  health[j].in_flight, health[j].requests,
                                  health[j].successes, health[j].failures,
                                  health[j].consecutive_failures,
                                  health[j].success_rate,
                                  health[j].latency_ewma_us);
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * lb <strategy> [option=value ...] [key=<complex value>];
 *
 * Names go through lb's own tables (lb_strategy_from_name,
 * lb_option_from_name), and every option is tried on a scratch balancer
 * here, so a mistake is reported with the directive's file and line.
 */

static char *
ngx_http_upstream_lb(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_lb_srv_conf_t  *lcf = conf;

    char                          *rv;
    ngx_str_t                     *value;
    ngx_uint_t                     i;
    lb_status                      st;
    lb_balancer                   *scratch;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (lcf->configured) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" is duplicate",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    /*
     * "keepalive" (and every balancer directive) replaces init_upstream and
     * keepalive calls the one it found there: after "keepalive", "lb" would
     * silently drop the connection cache, so the order must be lb first.
     */
    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lb\" must come before \"keepalive\" and must "
                           "be the only load-balancing method of upstream "
                           "\"%V\"", &uscf->host);
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    st = lb_strategy_from_name((const char *) value[1].data, value[1].len,
                               &lcf->strategy);
    if (st != LB_STATUS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown lb strategy \"%V\": %s",
                           &value[1], lb_status_str(st));
        return NGX_CONF_ERROR;
    }

    lcf->strategy_name = value[1];

    lcf->options = ngx_array_create(cf->pool, 4,
                                    sizeof(ngx_http_upstream_lb_option_t));
    if (lcf->options == NULL) {
        return NGX_CONF_ERROR;
    }

    st = lb_balancer_new(lcf->strategy, &scratch);
    if (st != LB_STATUS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "lb could not make a balancer: %s",
                           lb_status_str(st));
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_OK;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            rv = ngx_http_upstream_lb_key(cf, lcf, &value[i]);

        } else {
            rv = ngx_http_upstream_lb_option(cf, lcf, scratch, &value[i]);
        }

        if (rv != NGX_CONF_OK) {
            break;
        }
    }

    lb_balancer_free(scratch);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    lcf->configured = 1;

    uscf->peer.init_upstream = ngx_http_upstream_init_lb;

    /*
     * Every "server" parameter stays accepted, whichever comes first, "lb"
     * or the "server" lines: init_upstream then refuses "backup" and warns
     * about max_fails / fail_timeout with one message for both orders.
     */
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE
                  |NGX_HTTP_UPSTREAM_WEIGHT
                  |NGX_HTTP_UPSTREAM_MAX_CONNS
                  |NGX_HTTP_UPSTREAM_MAX_FAILS
                  |NGX_HTTP_UPSTREAM_FAIL_TIMEOUT
                  |NGX_HTTP_UPSTREAM_DOWN
                  |NGX_HTTP_UPSTREAM_BACKUP;

    return NGX_CONF_OK;
}


static char *
ngx_http_upstream_lb_key(ngx_conf_t *cf, ngx_http_upstream_lb_srv_conf_t *lcf,
    ngx_str_t *value)
{
    ngx_str_t                          v;
    ngx_http_compile_complex_value_t   ccv;

    /* only the consistent-hash strategies look at the key */

    if (lcf->strategy != LB_STRATEGY_MAGLEV
        && lcf->strategy != LB_STRATEGY_RING_HASH)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"key=\" needs lb strategy \"maglev\" or "
                           "\"ring_hash\", not \"%V\"", &lcf->strategy_name);
        return NGX_CONF_ERROR;
    }

    if (lcf->key) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"key=\" in \"lb\"");
        return NGX_CONF_ERROR;
    }

    v.data = value->data + 4;
    v.len = value->len - 4;

    if (v.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty \"key=\" in \"lb\"");
        return NGX_CONF_ERROR;
    }

    lcf->key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (lcf->key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &v;
    ccv.complex_value = lcf->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_upstream_lb_option(ngx_conf_t *cf,
    ngx_http_upstream_lb_srv_conf_t *lcf, lb_balancer *scratch,
    ngx_str_t *value)
{
    char                           *end;
    u_char                         *eq;
    double                          d;
    ngx_str_t                       name, arg;
    lb_status                       st;
    lb_option                       option;
    ngx_http_upstream_lb_option_t  *opt;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');

    if (eq == NULL || eq == value->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"lb\": "
                           "expected option=value or key=$variable",
                           value);
        return NGX_CONF_ERROR;
    }

    name.data = value->data;
    name.len = eq - value->data;

    arg.data = eq + 1;
    arg.len = value->data + value->len - arg.data;

    st = lb_option_from_name((const char *) name.data, name.len, &option);
    if (st != LB_STATUS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown lb option \"%V\": %s",
                           &name, lb_status_str(st));
        return NGX_CONF_ERROR;
    }

    /*
     * Configuration words are NUL-terminated, so strtod() may read the
     * value in place; it must take all of it.  NaN and infinities get
     * through strtod() and are lb's to refuse.
     */

    end = NULL;
    d = arg.len ? strtod((const char *) arg.data, &end) : 0.0;

    if (arg.len == 0 || end != (char *) arg.data + arg.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" of lb option \"%V\": "
                           "not a number", &arg, &name);
        return NGX_CONF_ERROR;
    }

    st = lb_set_option(scratch, option, d);
    if (st != LB_STATUS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" of lb option \"%V\": %s",
                           &arg, &name, lb_status_str(st));
        return NGX_CONF_ERROR;
    }

    opt = ngx_array_push(lcf->options);
    if (opt == NULL) {
        return NGX_CONF_ERROR;
    }

    opt->text = *value;
    opt->option = option;
    opt->value = d;

    return NGX_CONF_OK;
}


static char *
ngx_http_upstream_lb_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    /* conf is this module's main configuration, read again per request */
    (void) conf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_upstream_lb_status_handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" is duplicate",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_upstream_lb_status_handler;

    return NGX_CONF_OK;
}


static void *
ngx_http_upstream_lb_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_upstream_lb_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_lb_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&lmcf->upstreams, cf->pool, 4,
                       sizeof(ngx_http_upstream_lb_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return lmcf;
}


static void *
ngx_http_upstream_lb_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_upstream_lb_srv_conf_t  *lcf;

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->configured = 0;
     *     lcf->options = NULL;
     *     lcf->key = NULL;
     *     lcf->peers = NULL;
     *     lcf->lb = NULL;
     */

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_lb_srv_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    return lcf;
}


/* each worker builds its own balancers: lb's state is process memory */

static ngx_int_t
ngx_http_upstream_lb_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    lb_status                           st;
    ngx_http_upstream_lb_option_t      *failed;
    ngx_http_upstream_lb_srv_conf_t   **lcfp;
    ngx_http_upstream_lb_main_conf_t   *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_upstream_lb_module);
    if (lmcf == NULL) {
        return NGX_OK;
    }

    lcfp = lmcf->upstreams.elts;

    for (i = 0; i < lmcf->upstreams.nelts; i++) {

        st = ngx_http_upstream_lb_build(lcfp[i], &lcfp[i]->lb, &failed);

        if (st != LB_STATUS_OK) {
            /* the same steps passed at configuration time */
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "lb could not build the balancer of upstream "
                          "\"%V\": %s", &lcfp[i]->upstream->host,
                          lb_status_str(st));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_upstream_lb_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
#if (NGX_HTTP_SSL)
    ngx_uint_t                          j;
    ngx_http_upstream_lb_peer_t        *peer;
#endif
    ngx_http_upstream_lb_srv_conf_t   **lcfp;
    ngx_http_upstream_lb_main_conf_t   *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_upstream_lb_module);
    if (lmcf == NULL) {
        return;
    }

    lcfp = lmcf->upstreams.elts;

    for (i = 0; i < lmcf->upstreams.nelts; i++) {

        /* no request is left in a worker that exits */

        if (lcfp[i]->lb) {
            lb_balancer_free(lcfp[i]->lb);
            lcfp[i]->lb = NULL;
        }

#if (NGX_HTTP_SSL)
        peer = lcfp[i]->peers;

        for (j = 0; j < lcfp[i]->npeers; j++) {
            if (peer[j].ssl_session) {
                ngx_ssl_free_session(peer[j].ssl_session);
                peer[j].ssl_session = NULL;
            }
        }
#endif
    }
}
