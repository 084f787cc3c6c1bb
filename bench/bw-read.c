/* Streaming read bandwidth: bw-read MIB THREADS REPS reads a MIB buffer REPS times with
 * AVX-512 loads from THREADS threads (each its share) and prints GB/s by wall time and per
 * thread by thread CPU time. Not built by meson:
 *   gcc -O2 -mavx512f -pthread bench/bw-read.c -o /tmp/bw-read
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static size_t SZ; static char *buf; static int NT; static int REPS;
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static double cpunow(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static double cpu_t[8];
static void *run(void *a){ long id=(long)a; size_t part=SZ/NT; const char*p=buf+id*part; __m512 s=_mm512_setzero_ps();
 double c0=cpunow();
 for(int r=0;r<REPS;r++) for(size_t i=0;i<part;i+=256){ s=_mm512_add_ps(s,_mm512_load_ps((float*)(p+i))); s=_mm512_add_ps(s,_mm512_load_ps((float*)(p+i+64)));s=_mm512_add_ps(s,_mm512_load_ps((float*)(p+i+128)));s=_mm512_add_ps(s,_mm512_load_ps((float*)(p+i+192)));}
 cpu_t[id]=cpunow()-c0;
 volatile float x=_mm512_reduce_add_ps(s); (void)x; return 0;}
int main(int c,char**v){ SZ=(size_t)atol(v[1])<<20; NT=atoi(v[2]); REPS=atoi(v[3]); buf=aligned_alloc(4096,SZ); memset(buf,1,SZ);
 pthread_t th[8]; // warm
 for(long i=0;i<NT;i++)pthread_create(&th[i],0,run,(void*)i); for(int i=0;i<NT;i++)pthread_join(th[i],0);
 double t0=now(); for(long i=0;i<NT;i++)pthread_create(&th[i],0,run,(void*)i); for(int i=0;i<NT;i++)pthread_join(th[i],0); double t=now()-t0;
 double cs=0; for(int i=0;i<NT;i++) cs+=cpu_t[i];
 printf("%5zu MiB x%d threads: wall %.1f GB/s, per-thread-cpu %.1f GB/s per thread\n", SZ>>20, NT, (double)SZ*REPS/t/1e9, (double)SZ*REPS/(cs/NT)/NT/1e9);
}
