// SPDX-License-Identifier: GPL-2.0
/*
 * krr_bugs: a misc device (/dev/krr_bugs) whose ioctls hold deliberate
 * kernel bugs, each modelled on a kind syzbot finds again and again. The
 * code is meant to look like ordinary driver code that is wrong in one
 * place; the kernel's own detectors (slab debugging, refcount_t, the oops
 * handler, the hung-task watchdog) report each bug, nothing here calls
 * panic() or BUG().
 *
 * Every ioctl takes its argument by value (no user pointers), so a
 * reproducer is a handful of raw syscalls. The numbers are _IO('K', n).
 */
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timer.h>

#define KRR_SESSION_CREATE _IO('K', 0x01)   /* arg: data length in bytes */
#define KRR_SESSION_DESTROY _IO('K', 0x02)  /* */
#define KRR_SESSION_CHECKSUM _IO('K', 0x03) /* returns a checksum of the data */
#define KRR_BUF_ALLOC _IO('K', 0x10)        /* arg: size */
#define KRR_BUF_DETACH _IO('K', 0x11)       /* */
#define KRR_SLOTS_ALLOC _IO('K', 0x20)      /* */
#define KRR_SLOT_SET _IO('K', 0x21)         /* arg: slot index */
#define KRR_WATCH_START _IO('K', 0x30)      /* arg: period in ms */
#define KRR_WATCH_DETACH _IO('K', 0x31)     /* */
#define KRR_CHANNEL_ATTACH _IO('K', 0x40)   /* */
#define KRR_CHANNEL_DETACH _IO('K', 0x41)   /* */
#define KRR_LINK _IO('K', 0x50)             /* */
#define KRR_UNLINK _IO('K', 0x51)           /* */

#define KRR_SLOT_COUNT 8
#define KRR_SESSION_MAX (1 << 20)

/* One per open file. */
struct krr_file {
    void* buf;
    u64* slots;
    bool attached;
};

/*
 * Sessions: one global session, looked up under a spinlock. The checksum
 * path drops the lock before using the session and holds no reference, so a
 * concurrent DESTROY frees it underneath (use-after-free through a race).
 */
struct krr_session {
    size_t len;
    u8* data;
};

static DEFINE_SPINLOCK(session_lock);
static struct krr_session* active_session;

static long session_create(unsigned long len) {
    struct krr_session* s;
    size_t i;

    if (len == 0 || len > KRR_SESSION_MAX)
        return -EINVAL;
    s = kzalloc(sizeof(*s), GFP_KERNEL);
    if (!s)
        return -ENOMEM;
    s->data = kvmalloc(len, GFP_KERNEL);
    if (!s->data) {
        kfree(s);
        return -ENOMEM;
    }
    s->len = len;
    for (i = 0; i < len; i++)
        s->data[i] = (u8)(i * 31 + 7);
    spin_lock(&session_lock);
    if (active_session) {
        spin_unlock(&session_lock);
        kvfree(s->data);
        kfree(s);
        return -EBUSY;
    }
    active_session = s;
    spin_unlock(&session_lock);
    return 0;
}

static long session_destroy(void) {
    struct krr_session* s;

    spin_lock(&session_lock);
    s = active_session;
    active_session = NULL;
    spin_unlock(&session_lock);
    if (!s)
        return -ENOENT;
    kvfree(s->data);
    kfree(s);
    return 0;
}

/* Out of line so that the oops names it. */
static noinline long session_checksum(void) {
    struct krr_session* s;
    size_t off, i;
    u32 sum = 0;

    spin_lock(&session_lock);
    s = active_session;
    spin_unlock(&session_lock);
    if (!s)
        return -ENOENT;
    /* BUG: s may be freed by session_destroy() from here on. */
    for (off = 0; off < s->len; off += 256) {
        for (i = off; i < off + 256 && i < s->len; i++)
            sum = (sum << 1 | sum >> 31) ^ s->data[i];
        cond_resched();
    }
    return sum & 0x7fffffff;
}

/*
 * Timer: a watch counts ticks into a target object. Detaching clears the
 * target but leaves the timer armed, so the next expiry dereferences NULL in
 * softirq context.
 */
struct krr_watch_target {
    unsigned long flags;
    unsigned long hits;
};

static struct {
    struct timer_list timer;
    unsigned long period;
    struct krr_watch_target* target;
    bool running;
} watch;

static DEFINE_MUTEX(watch_lock);

static void watch_timer_fn(struct timer_list* t) {
    watch.target->hits++;
    mod_timer(&watch.timer, jiffies + watch.period);
}

static long watch_start(unsigned long period_ms) {
    struct krr_watch_target* target;

    if (period_ms == 0 || period_ms > 10000)
        return -EINVAL;
    target = kzalloc(sizeof(*target), GFP_KERNEL);
    if (!target)
        return -ENOMEM;
    mutex_lock(&watch_lock);
    if (watch.running) {
        mutex_unlock(&watch_lock);
        kfree(target);
        return -EBUSY;
    }
    watch.target = target;
    watch.period = msecs_to_jiffies(period_ms);
    watch.running = true;
    mod_timer(&watch.timer, jiffies + watch.period);
    mutex_unlock(&watch_lock);
    return 0;
}

static long watch_detach(void) {
    struct krr_watch_target* target;

    mutex_lock(&watch_lock);
    target = watch.target;
    /* BUG: the timer still runs and dereferences watch.target. */
    watch.target = NULL;
    mutex_unlock(&watch_lock);
    kfree(target);
    return 0;
}

/*
 * Channel: a device-wide object whose reference count starts at one (the
 * module's). DETACH drops a reference without checking that this file took
 * one, so a second DETACH underflows the count.
 */
static struct {
    refcount_t refs;
    unsigned long generation;
} channel;

static void channel_reset(void) {
    channel.generation++;
}

static long channel_attach(struct krr_file* f) {
    if (f->attached)
        return -EALREADY;
    refcount_inc(&channel.refs);
    f->attached = true;
    return 0;
}

static noinline long channel_detach(struct krr_file* f) {
    /* BUG: should return -EINVAL unless f->attached. */
    f->attached = false;
    if (refcount_dec_and_test(&channel.refs))
        channel_reset();
    return 0;
}

/*
 * Links: LINK takes table_lock then map_lock, UNLINK takes them in the other
 * order. Both do some work between the two, with a scheduling point, so a
 * thread can be switched out holding its first lock (ABBA deadlock).
 */
static DEFINE_MUTEX(table_lock);
static DEFINE_MUTEX(map_lock);
static unsigned long table_entries[64];
static unsigned long map_entries[64];

static void scan_entries(unsigned long* entries) {
    int i;

    for (i = 0; i < 64; i++) {
        entries[i] = entries[i] * 6364136223846793005UL + 1442695040888963407UL;
        if (i % 16 == 15)
            cond_resched();
    }
}

static noinline long link_entries(void) {
    mutex_lock(&table_lock);
    scan_entries(table_entries);
    mutex_lock(&map_lock);
    scan_entries(map_entries);
    mutex_unlock(&map_lock);
    mutex_unlock(&table_lock);
    return 0;
}

static noinline long unlink_entries(void) {
    mutex_lock(&map_lock);
    scan_entries(map_entries);
    mutex_lock(&table_lock);
    scan_entries(table_entries);
    mutex_unlock(&table_lock);
    mutex_unlock(&map_lock);
    return 0;
}

static long krr_bugs_ioctl(struct file* file, unsigned int cmd, unsigned long arg) {
    struct krr_file* f = file->private_data;

    switch (cmd) {
    case KRR_SESSION_CREATE:
        return session_create(arg);
    case KRR_SESSION_DESTROY:
        return session_destroy();
    case KRR_SESSION_CHECKSUM:
        return session_checksum();
    case KRR_BUF_ALLOC:
        if (f->buf)
            return -EBUSY;
        if (arg == 0 || arg > PAGE_SIZE)
            return -EINVAL;
        f->buf = kzalloc(arg, GFP_KERNEL);
        return f->buf ? 0 : -ENOMEM;
    case KRR_BUF_DETACH:
        if (!f->buf)
            return -ENOENT;
        /* BUG: f->buf is not cleared; release() frees it again. */
        kfree(f->buf);
        return 0;
    case KRR_SLOTS_ALLOC:
        if (f->slots)
            return -EBUSY;
        f->slots = kmalloc_array(KRR_SLOT_COUNT, sizeof(u64), GFP_KERNEL);
        return f->slots ? 0 : -ENOMEM;
    case KRR_SLOT_SET:
        /* BUG: off by one, should be >=. */
        if (!f->slots || arg > KRR_SLOT_COUNT)
            return -EINVAL;
        f->slots[arg] = 0x4141414141414141ULL;
        return 0;
    case KRR_WATCH_START:
        return watch_start(arg);
    case KRR_WATCH_DETACH:
        return watch_detach();
    case KRR_CHANNEL_ATTACH:
        return channel_attach(f);
    case KRR_CHANNEL_DETACH:
        return channel_detach(f);
    case KRR_LINK:
        return link_entries();
    case KRR_UNLINK:
        return unlink_entries();
    }
    return -ENOTTY;
}

static int krr_bugs_open(struct inode* inode, struct file* file) {
    struct krr_file* f = kzalloc(sizeof(*f), GFP_KERNEL);

    if (!f)
        return -ENOMEM;
    file->private_data = f;
    return 0;
}

static int krr_bugs_release(struct inode* inode, struct file* file) {
    struct krr_file* f = file->private_data;

    kfree(f->buf);
    kfree(f->slots);
    if (f->attached && refcount_dec_and_test(&channel.refs))
        channel_reset();
    kfree(f);
    return 0;
}

static const struct file_operations krr_bugs_fops = {
    .owner = THIS_MODULE,
    .open = krr_bugs_open,
    .release = krr_bugs_release,
    .unlocked_ioctl = krr_bugs_ioctl,
};

static struct miscdevice krr_bugs_device = {
    .minor = MISC_DYNAMIC_MINOR,
    .name = "krr_bugs",
    .fops = &krr_bugs_fops,
    .mode = 0666,
};

static int __init krr_bugs_init(void) {
    refcount_set(&channel.refs, 1);
    timer_setup(&watch.timer, watch_timer_fn, 0);
    return misc_register(&krr_bugs_device);
}

static void __exit krr_bugs_exit(void) {
    misc_deregister(&krr_bugs_device);
    del_timer_sync(&watch.timer);
    kfree(watch.target);
    session_destroy();
}

module_init(krr_bugs_init);
module_exit(krr_bugs_exit);
MODULE_DESCRIPTION("krr sample driver with deliberate syzbot-style bugs");
MODULE_LICENSE("GPL");
