package main

// rdtsc returns the time-stamp counter.
func rdtsc() uint64

const hasTSC = true
