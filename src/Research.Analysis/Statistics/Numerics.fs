namespace Research.Analysis

/// <summary>
/// Elementary functions with full relative precision near zero, used where the statistics need
/// them (Šidák corrections, 1 − β^t in the adaptive learning-rate theory).
/// </summary>
/// <remarks>
/// MathNet.Numerics 5.0's <c>SpecialFunctions.Expm1</c> truncates a series and is off by about
/// 5e-7 relative at x = −0.002, and .NET's <c>Double.ExpM1</c>/<c>Double.LogP1</c> are the naive
/// <c>exp(x) − 1</c> and <c>log(1 + x)</c>. The forms here are Kahan's: they agree with the C
/// library's <c>expm1</c>/<c>log1p</c> (used by numpy) to a few ulps.
/// </remarks>
module internal Accurate =

    /// e^x − 1 without cancellation for small |x| (Kahan: (u − 1)·x / log u with u = e^x).
    let expm1 (x: float) : float =
        let u = exp x
        if u = 1.0 then x
        elif u - 1.0 = -1.0 then -1.0
        elif System.Double.IsPositiveInfinity u then u
        else (u - 1.0) * x / log u

    /// log(1 + x) without cancellation for small |x| (Goldberg: log(u)·x / (u − 1) with u = 1 + x).
    let log1p (x: float) : float =
        let u = 1.0 + x
        if u = 1.0 then x
        elif System.Double.IsPositiveInfinity u then u
        else log u * x / (u - 1.0)

/// <summary>
/// The pseudo-random generator used for resampling, initialisation and sampling: xoshiro256**
/// (Blackman and Vigna 2018), seeded by SplitMix64 from a (seed, stream) pair.
/// </summary>
/// <remarks>
/// Each stream — one bootstrap resample, one EM restart — gets its own generator derived from the
/// user's seed and the stream's index, so results do not depend on how work is spread over
/// threads. Integers in [0, n) use Lemire's multiply-and-reject method (unbiased).
/// One instance is not thread-safe; reseed it with <c>Reset</c> to reuse it without allocating.
/// </remarks>
[<Sealed; AllowNullLiteral>]
type Xoshiro256StarStar(seed: int64, stream: int64) =
    let mutable s0 = 0UL
    let mutable s1 = 0UL
    let mutable s2 = 0UL
    let mutable s3 = 0UL

    /// SplitMix64's output function (Steele, Lea and Flood 2014).
    static let mix (z0: uint64) =
        let z = (z0 ^^^ (z0 >>> 30)) * 0xBF58476D1CE4E5B9UL
        let z = (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)

    let seedWith (seed: int64) (stream: int64) =
        // an odd multiplier makes stream -> state a bijection for a fixed seed
        let x = uint64 seed ^^^ (uint64 stream * 0xD1B54A32D192ED03UL)
        let golden = 0x9E3779B97F4A7C15UL
        s0 <- mix (x + golden)
        s1 <- mix (x + 2UL * golden)
        s2 <- mix (x + 3UL * golden)
        s3 <- mix (x + 4UL * golden)
        if s0 ||| s1 ||| s2 ||| s3 = 0UL then s0 <- 1UL

    do seedWith seed stream

    /// The four state words that (seed, stream) seeds, for vectorised generators that run several
    /// streams in SIMD lanes and must reproduce this class's sequence exactly.
    static member internal SeedState(seed: int64, stream: int64) : struct (uint64 * uint64 * uint64 * uint64) =
        let x = uint64 seed ^^^ (uint64 stream * 0xD1B54A32D192ED03UL)
        let golden = 0x9E3779B97F4A7C15UL
        let a0 = mix (x + golden)
        let a1 = mix (x + 2UL * golden)
        let a2 = mix (x + 3UL * golden)
        let a3 = mix (x + 4UL * golden)
        if a0 ||| a1 ||| a2 ||| a3 = 0UL then struct (1UL, a1, a2, a3) else struct (a0, a1, a2, a3)

    /// One xoshiro256** step on explicit state: returns the output and updates the words (the one
    /// implementation of the step; the SIMD bootstrap kernel runs the same step in vector lanes).
    static member inline internal Step(s0: byref<uint64>, s1: byref<uint64>, s2: byref<uint64>, s3: byref<uint64>) : uint64 =
        let result = System.Numerics.BitOperations.RotateLeft(s1 * 5UL, 7) * 9UL
        let t = s1 <<< 17
        s2 <- s2 ^^^ s0
        s3 <- s3 ^^^ s1
        s1 <- s1 ^^^ s2
        s0 <- s0 ^^^ s3
        s2 <- s2 ^^^ t
        s3 <- System.Numerics.BitOperations.RotateLeft(s3, 45)
        result

    /// <summary>Re-seeds this generator for (seed, stream), as if freshly constructed.</summary>
    /// <param name="seed">The user's seed.</param>
    /// <param name="stream">The index of the independent stream (resample, restart, …).</param>
    member _.Reset(seed: int64, stream: int64) : unit = seedWith seed stream

    /// <summary>The next 64 random bits.</summary>
    /// <returns>A uniformly distributed 64-bit integer.</returns>
    member _.NextUInt64() : uint64 = Xoshiro256StarStar.Step(&s0, &s1, &s2, &s3)

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    /// <returns>The draw.</returns>
    member this.NextDouble() : float = float (this.NextUInt64() >>> 11) * (1.0 / 9007199254740992.0)

    /// <summary>A uniform integer in [0, n), unbiased (Lemire 2019, "Fast random integer generation in an interval").</summary>
    /// <param name="n">The exclusive upper bound, n ≥ 1.</param>
    /// <returns>The draw.</returns>
    member this.NextInt(n: int) : int =
        let bound = uint64 (uint32 n)
        let mutable m = (this.NextUInt64() >>> 32) * bound
        let mutable low = uint32 m
        if low < uint32 n then
            let threshold = (0u - uint32 n) % uint32 n
            while low < threshold do
                m <- (this.NextUInt64() >>> 32) * bound
                low <- uint32 m
        int (m >>> 32)

    /// <summary>A standard normal draw (Box–Muller on two uniforms).</summary>
    /// <returns>The draw.</returns>
    member this.NextNormal() : float =
        let u1 = 1.0 - this.NextDouble() // (0, 1]
        let u2 = this.NextDouble()
        sqrt (-2.0 * log u1) * cos (2.0 * System.Math.PI * u2)

/// <summary>
/// Runs independent, deterministic work items on the calling thread and on helper threads,
/// without ever waiting for a helper.
/// </summary>
/// <remarks>
/// Workers take items from a shared counter. When the caller runs out of items it computes itself
/// every item that has no published result yet — including items a helper is still working on —
/// instead of waiting: on a busy machine a preempted helper would otherwise stall the call for a
/// scheduler time slice, longer than many of these computations. Each item's result must depend
/// only on the item (so both copies are equal); the first one published (compare-and-swap) is used,
/// and a late copy is discarded. A helper never throws: a failing item is recomputed, and raises,
/// on the caller.
/// </remarks>
module internal Work =

    /// Computes `compute i` for i in [0, count) and returns the results in order.
    let run<'R when 'R : not struct and 'R : null> (useHelpers: bool) (count: int) (compute: int -> 'R) : 'R[] =
        let results = Array.zeroCreate<'R> count
        let next = ref -1
        let publish (i: int) (r: 'R) =
            System.Threading.Interlocked.CompareExchange<'R>(&results.[i], r, null) |> ignore
        let work () =
            let mutable i = System.Threading.Interlocked.Increment(&next.contents)
            while i < count do
                if isNull (System.Threading.Volatile.Read(&results.[i])) then publish i (compute i)
                i <- System.Threading.Interlocked.Increment(&next.contents)
        if useHelpers && count > 1 then
            for _ in 2 .. min System.Environment.ProcessorCount count do
                System.Threading.ThreadPool.UnsafeQueueUserWorkItem((fun _ -> try work () with _ -> ()), null) |> ignore
        work ()
        for i in 0 .. count - 1 do
            if isNull (System.Threading.Volatile.Read(&results.[i])) then publish i (compute i)
        Array.init count (fun i -> System.Threading.Volatile.Read(&results.[i]))

/// <summary>Named random streams: every random choice of a study takes its own seed, derived from the
/// study seed and a name for its purpose, never a hand-numbered offset of the study seed.</summary>
[<RequireQualifiedAccess>]
module RandomStreams =

    /// <summary>The seed of the stream named <paramref name="purpose"/> under <paramref name="seed"/>:
    /// SplitMix64 of the seed and an FNV-1a hash of the name (<c>TorchRuntime.DeriveSeed</c>, the same
    /// derivation the C# side uses for batch orders).</summary>
    let derive (seed: int64) (purpose: string) : int64 = Research.Core.Runtime.TorchRuntime.DeriveSeed(seed, purpose)

    /// <summary>The streams of one study: purpose ↦ seed, with the study's name as a prefix.</summary>
    let forStudy (study: string) (seed: int64) : string -> int64 = fun purpose -> derive seed $"{study}/{purpose}"

/// <summary>Random samples of items.</summary>
[<RequireQualifiedAccess>]
module Sampling =

    /// <summary>
    /// <paramref name="count"/> distinct items drawn uniformly without replacement (a partial
    /// Fisher–Yates shuffle driven by <c>Xoshiro256StarStar(seed, 0)</c>), returned in their input
    /// order; all items when there are no more than <paramref name="count"/>.
    /// </summary>
    let withoutReplacement (seed: int64) (count: int) (items: 'T[]) : 'T[] =
        if count < 0 then invalidArg (nameof count) $"expected a count ≥ 0, got {count}"
        if items.Length <= count then Array.copy items
        else
            let rng = Xoshiro256StarStar(seed, 0L)
            let index = Array.init items.Length id
            for i in 0 .. count - 1 do
                let j = i + rng.NextInt(items.Length - i)
                let tmp = index.[i]
                index.[i] <- index.[j]
                index.[j] <- tmp
            index.[.. count - 1] |> Array.sort |> Array.map (fun k -> items.[k])
