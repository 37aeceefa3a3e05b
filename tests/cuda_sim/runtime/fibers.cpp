// The simulator's kernel execution: each thread of a block is a fiber on
// the launching host thread, run cooperatively; blocks run one after
// another. Fibers switch only at __syncthreads() and warp intrinsics (the
// one that arrives last at a barrier goes on; the others are queued), so a
// block's threads interleave exactly at the points where CUDA orders them.
//
// Context switches: hand-written on x86-64 (callee-saved registers, MXCSR
// and the x87 control word), ucontext elsewhere. With AddressSanitizer
// every switch is announced (__sanitizer_start/finish_switch_fiber) and the
// stacks of fibers abandoned by a fault are unpoisoned before reuse.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sim_internal.hpp"
#include "troupe_cuda_sim.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TROUPE_SIM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TROUPE_SIM_ASAN 1
#endif
#ifdef TROUPE_SIM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace troupe::cuda_sim::detail {
namespace {

#ifdef TROUPE_SIM_ASAN
constexpr size_t kStackBytes = size_t{512} << 10;
#else
constexpr size_t kStackBytes = size_t{128} << 10;
#endif

#ifdef TROUPE_SIM_ASAN
// The top of a fiber stack that is unpoisoned before each reuse.
constexpr size_t kCleanTop = size_t{8} << 10;
#endif

// ---- Context switching
// ---------------------------------------------------------

#if defined(__x86_64__)
extern "C" void troupe_sim_swap(void** save_sp, void* new_sp);
extern "C" void troupe_sim_fiber_start();
asm(R"(
.text
.p2align 4
.globl troupe_sim_swap
.hidden troupe_sim_swap
.type troupe_sim_swap,@function
troupe_sim_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size troupe_sim_swap,.-troupe_sim_swap
.p2align 4
.globl troupe_sim_fiber_start
.hidden troupe_sim_fiber_start
.type troupe_sim_fiber_start,@function
troupe_sim_fiber_start:
  movq %r12, %rdi
  callq *%r13
  ud2
.size troupe_sim_fiber_start,.-troupe_sim_fiber_start
)");
struct Context {
  void* sp = nullptr;
};
void context_swap(Context* from, Context* to) { troupe_sim_swap(&from->sp, to->sp); }
void context_init(Context* c, char* base, size_t size, void (*entry)(void*), void* arg) {
  auto top = reinterpret_cast<uintptr_t>(base + size) & ~uintptr_t{15};
  auto* sp = reinterpret_cast<uint64_t*>(top - 64);
  uint32_t mxcsr = 0;
  uint16_t fcw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fcw));
  sp[0] = static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(fcw) << 32);
  sp[1] = 0;                                  // r15
  sp[2] = 0;                                  // r14
  sp[3] = reinterpret_cast<uint64_t>(entry);  // r13: called by the trampoline
  sp[4] = reinterpret_cast<uint64_t>(arg);    // r12: its argument
  sp[5] = 0;                                  // rbx
  sp[6] = 0;                                  // rbp
  sp[7] = reinterpret_cast<uint64_t>(&troupe_sim_fiber_start);
  c->sp = sp;
}
#else
struct Context {
  ucontext_t uc;
};
void context_swap(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
void (*g_entry)(void*) = nullptr;
void ucontext_entry(unsigned hi, unsigned lo) {
  void* arg = reinterpret_cast<void*>((static_cast<uintptr_t>(hi) << 32) | lo);
  g_entry(arg);
}
void context_init(Context* c, char* base, size_t size, void (*entry)(void*), void* arg) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = base;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  g_entry = entry;
  const auto a = reinterpret_cast<uintptr_t>(arg);
  makecontext(&c->uc, reinterpret_cast<void (*)()>(&ucontext_entry), 2, static_cast<unsigned>(a >> 32),
              static_cast<unsigned>(a & 0xffffffffu));
}
#endif

// ---- Fiber stacks: mmap'd, a guard page below, pooled per host thread
// ---------

struct Stack {
  char* base = nullptr;  // lowest usable byte
  size_t size = 0;
  bool dirty = false;  // abandoned mid-frame: unpoison before reuse (ASan)
};
struct StackPool {
  std::vector<Stack> stacks;
  ~StackPool() {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    for (Stack& s : stacks) munmap(s.base - page, s.size + page);
  }
  Stack* get(size_t i) {
    while (stacks.size() <= i) {
      const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
      void* p =
          mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) {
        std::fprintf(stderr, "troupe cuda_sim: cannot map a fiber stack\n");
        std::abort();
      }
      mprotect(p, page, PROT_NONE);
      stacks.push_back(Stack{static_cast<char*>(p) + page, kStackBytes, false});
    }
    return &stacks[i];
  }
};
thread_local StackPool t_pool;

// ---- Schedule: the order blocks run in and runnable threads are resumed in
// --------

struct ScheduleState {
  std::atomic<int> mode{static_cast<int>(Schedule::in_order)};
  std::atomic<uint64_t> seed{1};
  std::atomic<uint64_t> launches{0};
  ScheduleState() {
    if (const char* m = std::getenv("TROUPE_CUDA_SIM_SCHEDULE")) {
      const std::string v = m;
      if (v == "reverse")
        mode = static_cast<int>(Schedule::reverse);
      else if (v == "shuffled")
        mode = static_cast<int>(Schedule::shuffled);
      else if (v != "in-order" && !v.empty())
        std::fprintf(stderr,
                     "troupe cuda_sim: TROUPE_CUDA_SIM_SCHEDULE=%s: expected "
                     "in-order, reverse or shuffled\n",
                     m);
    }
    if (const char* sd = std::getenv("TROUPE_CUDA_SIM_SEED")) seed = std::strtoull(sd, nullptr, 10);
  }
};
ScheduleState& schedule_state() {
  static ScheduleState s;
  return s;
}

// splitmix64
uint64_t next_random(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Puts `ids` (in increasing order) into the schedule's order.
void reorder(std::vector<unsigned>& ids, Schedule mode, uint64_t& rng) {
  if (mode == Schedule::reverse) {
    std::reverse(ids.begin(), ids.end());
  } else if (mode == Schedule::shuffled) {
    for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[next_random(rng) % i]);
  }
}

// ---- One block's run
// ---------------------------------------------------------------

enum class State : uint8_t { runnable, wait_sync, wait_warp, done };

struct Fiber : SimThread {
  Context ctx;
  Stack* stack = nullptr;
  State state = State::runnable;
  bool started = false;
  unsigned linear = 0, lane = 0, warp = 0;
  // A pending warp intrinsic.
  ShflKind kind = ShflKind::sync;
  unsigned mask = 0;
  int arg = 0, width = 32;
  uint64_t value = 0, result = 0;
  void* fake_stack = nullptr;
};

struct BlockRun {
  const LaunchSpec* spec = nullptr;
  const std::function<void()>* body = nullptr;
  SimBlock block{};
  std::vector<Fiber> fibers;
  unsigned n = 0;
  std::vector<unsigned> ring;  // runnable fibers, each at most once
  size_t head = 0, count = 0;
  unsigned sync_arrived = 0, done = 0;
  // Per warp, one bit per lane: lanes that exist (blockDim), have
  // returned, and wait in a warp intrinsic.
  std::vector<uint32_t> warp_valid, warp_exited, warp_waiting;
  bool failed = false;
  cudaError_t error = cudaSuccess;
  char message[512] = {};
  Context main_ctx;
  void* main_fake_stack = nullptr;
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  bool have_main_bounds = false;
  Schedule mode = Schedule::in_order;
  uint64_t rng = 0;
  std::vector<unsigned> released;  // scratch for release order

  void push(unsigned i) {
    ring[(head + count) % n] = i;
    ++count;
  }
  Fiber* pop() {
    if (!count) return nullptr;
    const unsigned i = ring[head];
    head = (head + 1) % n;
    --count;
    return &fibers[i];
  }
};
thread_local BlockRun* t_run = nullptr;

// Switches from the running fiber (or main) to `to` (null: main). `save`
// is where the current context goes; `fake` null means it never resumes.
void switch_to(Context* save, void** fake, Fiber* to) {
  BlockRun& r = *t_run;
  Context* target = to ? &to->ctx : &r.main_ctx;
#ifdef TROUPE_SIM_ASAN
  if (to)
    __sanitizer_start_switch_fiber(fake, to->stack->base, to->stack->size);
  else
    __sanitizer_start_switch_fiber(fake, r.main_bottom, r.main_size);
#else
  (void)fake;
#endif
  if (to) {
    t_thread = to;
    to->started = true;
  }
  context_swap(save, target);
#ifdef TROUPE_SIM_ASAN
  __sanitizer_finish_switch_fiber(fake ? *fake : nullptr, nullptr, nullptr);
#endif
}

std::string where(const Fiber& f) {
  const SimBlock& b = t_run->block;
  return "block (" + std::to_string(b.block_idx.x) + "," + std::to_string(b.block_idx.y) + "," +
         std::to_string(b.block_idx.z) + ") thread (" + std::to_string(f.thread_idx.x) + "," +
         std::to_string(f.thread_idx.y) + "," + std::to_string(f.thread_idx.z) + ")";
}

std::string hex(unsigned v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

// A kernel fault: thrown on the faulting fiber and caught in fiber_entry,
// so the kernel's frames unwind (no heap memory is left on the abandoned
// stack) before the fiber hands control back to the launch.
struct KernelFault {};

// Marks the block as failed with `what` (about fiber f).
void record_fault(cudaError_t e, const Fiber& f, const std::string& what) {
  BlockRun& r = *t_run;
  r.failed = true;
  r.error = e;
  std::snprintf(r.message, sizeof r.message, "%s: %s", where(f).c_str(), what.c_str());
}
[[noreturn]] void fault_at(cudaError_t e, const Fiber& f, const std::string& what) {
  record_fault(e, f, what);
  throw KernelFault{};
}

void release_sync() {
  BlockRun& r = *t_run;
  r.sync_arrived = 0;
  r.released.clear();
  for (Fiber& f : r.fibers)
    if (f.state == State::wait_sync) {
      f.state = State::runnable;
      r.released.push_back(f.linear);
    }
  reorder(r.released, r.mode, r.rng);
  for (unsigned i : r.released) r.push(i);
}

// Blocks the running fiber (its state already set) and runs the next one.
void suspend(Fiber* self) { switch_to(&self->ctx, &self->fake_stack, t_run->pop()); }

[[noreturn]] void finish(Fiber* self);

void fiber_entry(void* arg) {
  BlockRun& r = *t_run;
#ifdef TROUPE_SIM_ASAN
  if (!r.have_main_bounds) {
    __sanitizer_finish_switch_fiber(nullptr, &r.main_bottom, &r.main_size);
    r.have_main_bounds = true;
  } else {
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
  }
#endif
  auto* self = static_cast<Fiber*>(arg);
  bool faulted = false;
  try {
    (*r.body)();
  } catch (const KernelFault&) {
    faulted = true;
  }
  if (faulted) switch_to(&self->ctx, nullptr, nullptr);  // to the launch, for good
  finish(self);
}

// Kept out of finish(), whose frame never returns: its strings live and
// die here, and finish's frame stays small (no redzones left on the stack).
[[gnu::noinline]] void record_exit_fault(const Fiber& self, unsigned waiting_lane, unsigned mask) {
  record_fault(cudaErrorIllegalInstruction, self,
               "lane " + std::to_string(self.lane) + " returned while lane " + std::to_string(waiting_lane) +
                   " of its warp waits in a warp intrinsic whose mask " + hex(mask) + " names it");
}

void finish(Fiber* self) {
  BlockRun& r = *t_run;
  self->state = State::done;
  ++r.done;
  r.warp_exited[self->warp] |= 1u << self->lane;
  // A lane waiting in a warp intrinsic that names this one can never go on.
  const unsigned base = self->warp * 32;
  for (uint32_t bits = r.warp_waiting[self->warp]; bits; bits &= bits - 1) {
    const unsigned l = static_cast<unsigned>(__builtin_ctz(bits));
    const Fiber& f = r.fibers[base + l];
    if (f.mask >> self->lane & 1u) {
      record_exit_fault(*self, l, f.mask);
      switch_to(&self->ctx, nullptr, nullptr);  // to the launch, for good
    }
  }
  if (r.sync_arrived > 0 && r.sync_arrived + r.done == r.n) release_sync();
  switch_to(&self->ctx, nullptr, r.pop());
  __builtin_unreachable();
}

}  // namespace

void syncthreads() {
  BlockRun& r = *t_run;
  auto* self = static_cast<Fiber*>(t_thread);
  ++r.sync_arrived;
  if (r.sync_arrived + r.done == r.n) {
    release_sync();
    return;
  }
  self->state = State::wait_sync;
  suspend(self);
}

uint64_t warp_exchange(ShflKind kind, unsigned mask, uint64_t value, int arg, int width) {
  BlockRun& r = *t_run;
  auto* self = static_cast<Fiber*>(t_thread);
  if (!(mask >> self->lane & 1u))
    fault_at(
        cudaErrorIllegalInstruction, *self,
        "lane " + std::to_string(self->lane) + " calls a warp intrinsic whose mask " + hex(mask) + " does not name it");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    fault_at(cudaErrorIllegalInstruction, *self,
             "warp intrinsic width " + std::to_string(width) + " is not a power of 2 <= 32");
  const unsigned w = self->warp, base = w * 32;
  if (const uint32_t missing = mask & ~r.warp_valid[w])
    fault_at(cudaErrorIllegalInstruction, *self,
             "warp intrinsic mask " + hex(mask) + " names lane " + std::to_string(__builtin_ctz(missing)) +
                 ", past the block's last thread (blockDim " + std::to_string(r.block.block_dim.x) + "x" +
                 std::to_string(r.block.block_dim.y) + "x" + std::to_string(r.block.block_dim.z) + ")");
  if (const uint32_t gone = mask & r.warp_exited[w])
    fault_at(cudaErrorIllegalInstruction, *self,
             "warp intrinsic mask " + hex(mask) + " names lane " + std::to_string(__builtin_ctz(gone)) +
                 ", which has exited");
  self->kind = kind;
  self->mask = mask;
  self->arg = arg;
  self->width = width;
  self->value = value;
  self->state = State::wait_warp;
  r.warp_waiting[w] |= 1u << self->lane;
  bool complete = (r.warp_waiting[w] & mask) == mask;
  for (uint32_t bits = mask; complete && bits; bits &= bits - 1)
    complete = r.fibers[base + static_cast<unsigned>(__builtin_ctz(bits))].mask == mask;
  if (!complete) {  // some lane of the mask is not here yet (or waits with
                    // another mask)
    suspend(self);
    return self->result;
  }
  // Every lane of the mask is here: exchange.
  for (uint32_t bits = mask; bits; bits &= bits - 1) {
    const unsigned l = static_cast<unsigned>(__builtin_ctz(bits));
    Fiber& f = r.fibers[base + l];
    if (f.kind != kind)
      fault_at(cudaErrorIllegalInstruction, f, "lanes of mask " + hex(mask) + " meet in different warp intrinsics");
    const int li = static_cast<int>(l), seg = li / f.width * f.width;
    int src = li;
    switch (f.kind) {
      case ShflKind::sync:
        break;
      case ShflKind::idx:
        src = seg + ((f.arg % f.width) + f.width) % f.width;
        break;
      case ShflKind::up:
        src = li - f.arg < seg ? li : li - f.arg;
        break;
      case ShflKind::down:
        src = li + f.arg >= seg + f.width ? li : li + f.arg;
        break;
      case ShflKind::bfly: {
        const int x = li ^ f.arg;
        src = x >= seg + f.width ? li : x;
        break;
      }
    }
    if (src < 0 || src >= 32 || !(mask >> src & 1u))
      fault_at(cudaErrorIllegalInstruction, f,
               "warp shuffle reads lane " + std::to_string(src) + ", outside its mask " + hex(mask));
    f.result = r.fibers[base + static_cast<unsigned>(src)].value;
  }
  r.warp_waiting[w] &= ~mask;
  r.released.clear();
  for (uint32_t bits = mask; bits; bits &= bits - 1) {
    Fiber& f = r.fibers[base + static_cast<unsigned>(__builtin_ctz(bits))];
    f.state = State::runnable;
    if (&f != self) r.released.push_back(f.linear);
  }
  if (r.mode != Schedule::in_order) reorder(r.released, r.mode, r.rng);
  for (unsigned i : r.released) r.push(i);
  return self->result;
}

cudaError_t run_kernel(const LaunchSpec& spec, const std::function<void()>& body) {
  const unsigned n = spec.block.x * spec.block.y * spec.block.z;
  BlockRun r;
  r.spec = &spec;
  r.body = &body;
  r.n = n;
  r.fibers.resize(n);
  r.ring.resize(n);
  const unsigned warps = (n + 31) / 32;
  r.warp_valid.assign(warps, 0xffffffffu);
  if (n % 32) r.warp_valid[warps - 1] = (1u << (n % 32)) - 1;
  r.block.block_dim = spec.block;
  r.block.grid_dim = spec.grid;
  BlockRun* const outer_run = t_run;
  SimBlock* const outer_block = t_block;
  SimThread* const outer_thread = t_thread;
  t_run = &r;
  t_block = &r.block;
  for (unsigned i = 0; i < n; ++i) t_pool.get(i);
  ScheduleState& sched = schedule_state();
  r.mode = static_cast<Schedule>(sched.mode.load());
  r.rng = sched.seed.load() * 0x2545f4914f6cdd1dull + sched.launches++;
  r.released.reserve(n);
  std::vector<unsigned> thread_order(n);
  for (unsigned i = 0; i < n; ++i) thread_order[i] = i;
  // Blocks in the schedule's order (a shuffle only for grids of up to 2^24
  // blocks; larger ones run reversed).
  const uint64_t blocks = uint64_t{spec.grid.x} * spec.grid.y * spec.grid.z;
  std::vector<unsigned> block_order;
  if (r.mode == Schedule::shuffled && blocks <= (uint64_t{1} << 24)) {
    block_order.resize(blocks);
    for (unsigned b = 0; b < blocks; ++b) block_order[b] = b;
    reorder(block_order, r.mode, r.rng);
  }
  cudaError_t result = cudaSuccess;
  for (uint64_t b = 0; b < blocks && result == cudaSuccess; ++b) {
    const uint64_t lin = !block_order.empty() ? block_order[b] : r.mode == Schedule::in_order ? b : blocks - 1 - b;
    const unsigned bx = static_cast<unsigned>(lin % spec.grid.x);
    const unsigned by = static_cast<unsigned>(lin / spec.grid.x % spec.grid.y);
    const unsigned bz = static_cast<unsigned>(lin / (uint64_t{spec.grid.x} * spec.grid.y));
    r.block.block_idx = uint3{bx, by, bz};
    if (r.mode != Schedule::in_order) {
      for (unsigned i = 0; i < n; ++i) thread_order[i] = i;
      reorder(thread_order, r.mode, r.rng);
    }
    r.head = 0;
    r.count = 0;
    r.sync_arrived = 0;
    r.done = 0;
    r.warp_exited.assign(warps, 0);
    r.warp_waiting.assign(warps, 0);
    for (unsigned i = 0; i < n; ++i) {
      Fiber& f = r.fibers[i];
      f.linear = i;
      f.thread_idx = uint3{i % spec.block.x, i / spec.block.x % spec.block.y, i / (spec.block.x * spec.block.y)};
      f.lane = i % 32;
      f.warp = i / 32;
      f.state = State::runnable;
      f.started = false;
      f.mask = 0;
      f.fake_stack = nullptr;
      f.stack = t_pool.get(i);
#ifdef TROUPE_SIM_ASAN
      // The frames of a finished fiber (fiber_entry, finish) never return,
      // so their redzones stay poisoned near the top of the stack; a
      // fiber abandoned by a fault may leave them anywhere.
      if (f.stack->dirty)
        __asan_unpoison_memory_region(f.stack->base, f.stack->size);
      else
        __asan_unpoison_memory_region(f.stack->base + f.stack->size - kCleanTop, kCleanTop);
#endif
      f.stack->dirty = false;
      context_init(&f.ctx, f.stack->base, f.stack->size, &fiber_entry, &f);
    }
    for (unsigned i : thread_order) r.push(i);
    switch_to(&r.main_ctx, &r.main_fake_stack, r.pop());
    t_thread = outer_thread;
    if (!r.failed && r.done < r.n) {
      unsigned at_sync = 0, at_warp = 0;
      std::string detail;
      for (const Fiber& f : r.fibers) {
        if (f.state == State::wait_sync) ++at_sync;
        if (f.state == State::wait_warp) {
          ++at_warp;
          if (detail.empty()) detail = "; first: " + where(f) + " waits in a warp intrinsic with mask " + hex(f.mask);
        }
      }
      r.failed = true;
      r.error = cudaErrorLaunchFailure;
      std::snprintf(r.message, sizeof r.message,
                    "block (%u,%u,%u): deadlock: %u thread(s) wait at __syncthreads, "
                    "%u in warp intrinsics, %u returned, none can go on%s",
                    bx, by, bz, at_sync, at_warp, r.done, detail.c_str());
    }
    if (r.failed) {
      for (Fiber& f : r.fibers)
        if (f.started && f.state != State::done) f.stack->dirty = true;
      result = r.error;
      set_fault(r.error, std::string("kernel ") + spec.name + ": " + r.message);
    }
  }
  t_run = outer_run;
  t_block = outer_block;
  t_thread = outer_thread;
  return result;
}

}  // namespace troupe::cuda_sim::detail

namespace troupe::cuda_sim {
void set_schedule(Schedule mode, uint64_t seed) {
  auto& s = detail::schedule_state();
  s.mode = static_cast<int>(mode);
  s.seed = seed;
}
Schedule schedule() { return static_cast<Schedule>(detail::schedule_state().mode.load()); }
}  // namespace troupe::cuda_sim
