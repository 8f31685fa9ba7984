// A fixed pool of worker threads for data-parallel loops. Its size comes from CAGE_NUM_THREADS
// (default: all cores). parallel_for splits [begin, end) into chunks of at least `grain` iterations;
// the calling thread works too, and a parallel_for inside a parallel_for runs inline. Idle threads poll for the
// next loop for up to CAGE_POOL_SPIN_US microseconds (default 100) before they block.
#pragma once
#include <cstdint>
#include <functional>

namespace cage {

int num_threads();             // the pool's size, including the calling thread
void set_num_threads(int n);   // resizes the pool (not while a loop runs)

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& body);

}  // namespace cage
