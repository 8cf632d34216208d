using System.Diagnostics;
using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Direct;

namespace PmemFs.Bench;

/// <summary>
/// `direct [SIZE_MIB] [ROUNDS]`: the direct-access client library (src/PmemFs.Direct) against raw
/// memcpy and against the FUSE write path, on a fresh mount made with the installed `pmemfs`
/// (DESIGN, "Performance targets"):
/// 1. sequential store + persist and load bandwidth through the library, against memcpy into an
///    anonymous mapping and a MAP_SHARED mapping of a /dev/shm file (both pre-faulted), with and
///    without libpmem2's flush;
/// 2. 4 KiB random store + persist latency and CPU, against a 4 KiB pwrite through the mount
///    (durable on return), CPU = this thread + the daemon (/proc/PID/stat);
/// 3. PMEMFS_IOC_PREPARE_WRITE latency through the mount, idle and while another process creates
///    10,000 files (and, to tell the FUSE loop from the journal, while another process opens,
///    reads and closes a file 10,000 times, which commits nothing), with threads=1 and threads=2.
/// Every measurement runs ROUNDS times, interleaved row by row, so all rows see the same noise;
/// tables give medians (bandwidth) or percentiles over all rounds' samples (latency).
/// </summary>
internal static unsafe partial class DirectBench
{
    private const int Chunk = 2 << 20;
    private const int Small = 4096;
    private static readonly string[] FlushInstructions = ["clwb", "clflushopt", "movdir64b"];

    public static int Run(int sizeMiB, int rounds)
    {
        long size = (long)sizeMiB << 20;
        if (size < Chunk || size % Chunk != 0) throw new ArgumentException($"SIZE_MIB must be a positive multiple of {Chunk >> 20}");
        PrintMachine(rounds);
        using var mount = new BenchMount($"{sizeMiB * 2 + (int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_BENCH_EXTRA_MIB"), out int extra) ? extra : 2048)}M"); // prepare-write samples allocate 4 KiB each: ~1 GiB for both mounts; PMEMFS_BENCH_EXTRA_MIB changes that headroom (a small one fills the image: ENOSPC)
        // Ctrl-C and SIGTERM do not unwind this thread: clean up from the handlers too.
        ConsoleCancelEventHandler onCancel = (_, _) => mount.Dispose();
        EventHandler onExit = (_, _) => mount.Dispose();
        Console.CancelKeyPress += onCancel;
        AppDomain.CurrentDomain.ProcessExit += onExit;
        try
        {
            mount.Mount("");
            if (Environment.GetEnvironmentVariable("DIRECT_BENCH_ONLY") != "prepare")
            {
                Bandwidth(mount, size, rounds, out var file, out var lease, out var map);
                using (file)
                using (lease)
                using (map)
                    RandomSmall(mount, map, size, rounds);
            }
            Prepare(mount, Math.Min(rounds, 3));
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            AppDomain.CurrentDomain.ProcessExit -= onExit;
        }
    }

    private static void PrintMachine(int rounds)
    {
        string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        string flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        string clflush = string.Join(",", FlushInstructions.Where(f => flags.Contains($" {f}", StringComparison.Ordinal)));
        Console.WriteLine($"machine: {cpu}, {Environment.ProcessorCount} cores (shared VM), kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, flush insns: {clflush}");
        Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()}; THP anon {Thp("enabled")}, shmem {Thp("shmem_enabled")}; {rounds} rounds");
        Console.WriteLine($"pmemfs: {Which("pmemfs")}");
        Console.WriteLine();
    }

    private static string Thp(string name)
    {
        try
        {
            string s = File.ReadAllText($"/sys/kernel/mm/transparent_hugepage/{name}");
            int a = s.IndexOf('['), b = s.IndexOf(']');
            return a >= 0 && b > a ? s[(a + 1)..b] : s.Trim();
        }
        catch (IOException) { return "?"; }
    }

    private static string Which(string cmd)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var p = Path.Combine(dir, cmd);
            if (File.Exists(p)) return new FileInfo(p).LinkTarget is { } t ? $"{p} -> {t}" : p;
        }
        return "(not found)";
    }

    // ---------------------------------------------------------------- 1. bandwidth

    private static void Bandwidth(BenchMount mount, long size, int rounds, out DirectFile file, out Lease lease, out DirectMapping map)
    {
        Console.WriteLine($"## 1. Sequential bandwidth: {size >> 20} MiB in {Chunk >> 20} MiB chunks, source/destination buffer of {Chunk >> 20} MiB");
        Console.WriteLine();
        string path = mount.DaxFile("seq");

        // Raw peers: an anonymous mapping and a MAP_SHARED mapping of a /dev/shm file, both pre-faulted.
        byte* anon = (byte*)Native.mmap(null, (nuint)size, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_PRIVATE | Native.MAP_ANONYMOUS | Native.MAP_POPULATE, -1, 0);
        if (anon == (byte*)-1) throw new InvalidOperationException($"mmap anon: errno {Marshal.GetLastPInvokeError()}");
        string shmPath = Path.Combine(mount.Root, "raw-shm");
        int shmFd = Native.open(shmPath, Native.O_RDWR | Native.O_CREAT, 0x180);
        if (shmFd < 0 || Native.ftruncate(shmFd, size) != 0) throw new InvalidOperationException($"{shmPath}: errno {Marshal.GetLastPInvokeError()}");
        byte* shm = (byte*)Native.mmap(null, (nuint)size, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED | Native.MAP_POPULATE, shmFd, 0);
        if (shm == (byte*)-1) throw new InvalidOperationException($"mmap shm: errno {Marshal.GetLastPInvokeError()}");
        Native.memset(anon, 1, (nuint)size);
        Native.memset(shm, 1, (nuint)size);
        // libpmem2's functions for cache-line granularity (what the library uses for a /dev/shm image):
        // taken from a libpmem2 map of the same file with the granularity forced, then used on the plain mapping.
        using var pmem2 = new Pmem2Functions(shmFd);

        byte* buf = (byte*)NativeMemory.AlignedAlloc(Chunk, 4096);
        new Random(7).NextBytes(new Span<byte>(buf, Chunk));

        file = DirectFile.Open(path);
        lease = file.AcquireLease(LeaseMode.Write);
        var d0 = mount.DaemonCpu();
        DirectMapping? m = null;
        var dirLease = lease;
        var (prepWall, prepCpu) = Time(() => m = dirLease.MapForWrite(0, size, extendSize: true));
        map = m!;
        double prepDaemon = mount.DaemonCpu() - d0;
        Console.WriteLine($"MapForWrite(0, {size >> 20} MiB, extendSize): {prepWall * 1e3:F0} ms wall, app CPU {prepCpu * 1e3:F0} ms, daemon CPU {prepDaemon * 1e3:F0} ms; " +
            $"{map.Pieces} piece(s); region {file.Region.Path}, granularity {file.Region.Granularity} (daemon {file.Region.DaemonGranularity}), alignment {file.Region.Alignment}");
        byte* dp = map.Pointer;
        var dm = map;
        // The very pages the library maps, mapped here by hand (one MAP_SHARED of the image at the
        // extent's physical offset): tells the library's cost from the pages' own.
        var extents = lease.GetMap(0, size);
        byte* samePages = null;
        int imageFd = -1;
        if (extents.Count == 1)
        {
            imageFd = Native.open(file.Region.Path, Native.O_RDWR, 0);
            samePages = (byte*)Native.mmap(null, (nuint)size, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED | Native.MAP_POPULATE, imageFd, (long)extents[0].PhysOffset);
            if (samePages == (byte*)-1) throw new InvalidOperationException($"mmap image: errno {Marshal.GetLastPInvokeError()}");
        }
        // First touch of the fresh mapping (page faults on the region's tmpfs pages), measured once.
        var (ftWall, ftCpu) = Time(() => { for (long o = 0; o < size; o += Chunk) dm.Store(o, new ReadOnlySpan<byte>(buf, Chunk)); });
        Console.WriteLine($"first Store pass over the fresh mapping (page faults): {Mib(size, ftWall),8:F0} MiB/s wall, {Mib(size, ftCpu),8:F0} MiB/s per CPU second (not in the table below: every row there is pre-faulted)");
        Console.WriteLine();

        var rows = new List<(string Name, string Group, Action Body)>
        {
            ("memcpy -> anonymous mapping", "store", () => { for (long o = 0; o < size; o += Chunk) Native.memcpy(anon + o, buf, Chunk); }),
            ("memcpy -> MAP_SHARED /dev/shm file", "store", () => { for (long o = 0; o < size; o += Chunk) Native.memcpy(shm + o, buf, Chunk); }),
            ("memcpy + pmem2 persist -> /dev/shm file", "persist", () => { for (long o = 0; o < size; o += Chunk) { Native.memcpy(shm + o, buf, Chunk); pmem2.Persist(shm + o, Chunk); } }),
            ("pmem2 memcpy (nt+drain) -> /dev/shm file", "persist", () => { for (long o = 0; o < size; o += Chunk) pmem2.MemcpyPersist(shm + o, buf, Chunk, 0); }),
            ("pmem2 memcpy (nt+drain) -> same image pages", "persist", () => { if (samePages != null) for (long o = 0; o < size; o += Chunk) pmem2.MemcpyPersist(samePages + o, buf, Chunk, 0); }),
            ("direct: map.Store", "persist", () => { for (long o = 0; o < size; o += Chunk) dm.Store(o, new ReadOnlySpan<byte>(buf, Chunk)); }),
            ("direct: memcpy to Pointer + Persist", "persist", () => { for (long o = 0; o < size; o += Chunk) { Native.memcpy(dp + o, buf, Chunk); dm.Persist(o, Chunk); } }),
            ("memcpy <- anonymous mapping", "load", () => { for (long o = 0; o < size; o += Chunk) Native.memcpy(buf, anon + o, Chunk); }),
            ("memcpy <- MAP_SHARED /dev/shm file", "load", () => { for (long o = 0; o < size; o += Chunk) Native.memcpy(buf, shm + o, Chunk); }),
            ("direct: map.Load", "load", () => { for (long o = 0; o < size; o += Chunk) dm.Load(o, new Span<byte>(buf, Chunk)); }),
            ("direct: memcpy from Pointer", "load", () => { for (long o = 0; o < size; o += Chunk) Native.memcpy(buf, dp + o, Chunk); }),
        };
        var wall = rows.Select(_ => new List<double>()).ToArray();
        var cpu = rows.Select(_ => new List<double>()).ToArray();
        var daemon = new List<double>();
        foreach (var r in rows) r.Body(); // warm-up: JIT, caches, and the direct mapping's second pass
        for (int round = 0; round < rounds; round++)
        {
            for (int i = 0; i < rows.Count; i++)
            {
                double dd = mount.DaemonCpu();
                var (w, c) = Time(rows[i].Body);
                if (rows[i].Name.StartsWith("direct", StringComparison.Ordinal)) daemon.Add(mount.DaemonCpu() - dd);
                wall[i].Add(Mib(size, w));
                cpu[i].Add(Mib(size, c));
            }
        }
        NativeMemory.AlignedFree(buf);
        Native.munmap(anon, (nuint)size);
        Native.munmap(shm, (nuint)size);
        Native.close(shmFd);
        if (samePages != null) Native.munmap(samePages, (nuint)size);
        if (imageFd >= 0) Native.close(imageFd);
        File.Delete(shmPath);

        double Med(List<double>[] xs, string name) => Median(xs[rows.FindIndex(r => r.Name == name)]);
        double anonStoreW = Med(wall, "memcpy -> anonymous mapping"), anonStoreC = Med(cpu, "memcpy -> anonymous mapping");
        double persistW = Med(wall, "pmem2 memcpy (nt+drain) -> /dev/shm file"), persistC = Med(cpu, "pmem2 memcpy (nt+drain) -> /dev/shm file");
        double anonLoadW = Med(wall, "memcpy <- anonymous mapping"), anonLoadC = Med(cpu, "memcpy <- anonymous mapping");
        Console.WriteLine($"| {"row",-42} | {"MiB/s wall",10} | {"MiB/s CPU",10} | {"min..max wall",15} | {"% memcpy anon",13} | {"% raw same op",13} |");
        Console.WriteLine($"|{new string('-', 44)}|{new string('-', 11)}:|{new string('-', 11)}:|{new string('-', 16)}:|{new string('-', 14)}:|{new string('-', 14)}:|");
        for (int i = 0; i < rows.Count; i++)
        {
            double w = Median(wall[i]), c = Median(cpu[i]);
            var (refW, refC) = rows[i].Group == "load" ? (anonLoadW, anonLoadC) : (anonStoreW, anonStoreC);
            string same = rows[i].Group switch
            {
                "persist" => $"{100 * c / persistC,5:F0} / {100 * w / persistW,3:F0}",
                "load" => $"{100 * c / anonLoadC,5:F0} / {100 * w / anonLoadW,3:F0}",
                _ => "",
            };
            Console.WriteLine($"| {rows[i].Name,-42} | {w,10:F0} | {c,10:F0} | {wall[i].Min(),6:F0}..{wall[i].Max(),-7:F0} | {$"{100 * c / refC:F0} / {100 * w / refW:F0}",13} | {same,13} |");
        }
        Console.WriteLine();
        Console.WriteLine("Percent columns: by CPU time / by wall time. \"% raw same op\": persisting rows against libpmem2's memcpy (nt+drain) into the");
        Console.WriteLine($"plain /dev/shm mapping; load rows against memcpy from the anonymous mapping. Daemon CPU during the direct rows: {daemon.Sum() * 1e3:F0} ms in all.");
        Console.WriteLine();
    }

    // ---------------------------------------------------------------- 2. 4 KiB random

    private static void RandomSmall(BenchMount mount, DirectMapping map, long size, int rounds)
    {
        const int directOps = 100_000, fuseOps = 20_000;
        const long fuseFileSize = 256L << 20;
        Console.WriteLine($"## 2. 4 KiB random store + persist: {directOps} ops per round through the library over the {size >> 20} MiB mapping, {fuseOps} pwrite per round through the mount ({fuseFileSize >> 20} MiB file, threads=1)");
        Console.WriteLine();
        // The FUSE peer: a plain file on the same mount, fully written first so every pwrite overwrites.
        string fusePath = Path.Combine(mount.Dir, "fuse-data");
        int fd = Native.open(fusePath, Native.O_RDWR | Native.O_CREAT, 0x1A4);
        if (fd < 0) throw new InvalidOperationException($"{fusePath}: errno {Marshal.GetLastPInvokeError()}");
        byte* buf = (byte*)NativeMemory.AlignedAlloc(1 << 20, 4096);
        new Random(8).NextBytes(new Span<byte>(buf, 1 << 20));
        for (long o = 0; o < fuseFileSize; o += 1 << 20)
            if (Native.pwrite(fd, buf, 1 << 20, o) != 1 << 20) throw new InvalidOperationException($"pwrite: errno {Marshal.GetLastPInvokeError()}");

        byte* dp = map.Pointer;
        var rng = new Random(9);
        long Offset(long within) => rng.NextInt64(within / Small) * Small;
        var src = new ReadOnlySpan<byte>(buf, Small).ToArray();
        var rows = new List<(string Name, int Ops, Action<int> Op)>
        {
            ("direct: map.Store 4 KiB", directOps, _ => map.Store(Offset(size), src)),
            ("direct: memcpy to Pointer + Persist", directOps, _ => { long o = Offset(size); Native.memcpy(dp + o, buf, Small); map.Persist(o, Small); }),
            ("FUSE: pwrite 4 KiB (durable on return)", fuseOps, _ =>
            {
                if (Native.pwrite(fd, buf, Small, Offset(fuseFileSize)) != Small) throw new InvalidOperationException($"pwrite: errno {Marshal.GetLastPInvokeError()}");
            }),
        };
        var lat = rows.Select(_ => new List<double>()).ToArray();
        var appCpu = rows.Select(_ => new List<double>()).ToArray();
        var daemonCpu = rows.Select(_ => new List<double>()).ToArray();
        foreach (var r in rows) for (int i = 0; i < 2000; i++) r.Op(i); // warm-up
        for (int round = 0; round < rounds; round++)
        {
            for (int k = 0; k < rows.Count; k++)
            {
                var (name, ops, op) = rows[k];
                var samples = lat[k];
                double d0 = mount.DaemonCpu();
                var (_, c) = Time(() =>
                {
                    for (int i = 0; i < ops; i++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        op(i);
                        samples.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
                    }
                });
                daemonCpu[k].Add((mount.DaemonCpu() - d0) * 1e6 / ops);
                appCpu[k].Add(c * 1e6 / ops);
            }
        }
        Native.close(fd);
        NativeMemory.AlignedFree(buf);

        Console.WriteLine($"| {"row",-40} | {"ops",7} | {"p50 us",7} | {"p99 us",7} | {"p99.9 us",8} | {"app CPU us/op",13} | {"daemon us/op",12} | {"total us/op",11} |");
        Console.WriteLine($"|{new string('-', 42)}|{new string('-', 8)}:|{new string('-', 8)}:|{new string('-', 8)}:|{new string('-', 9)}:|{new string('-', 14)}:|{new string('-', 13)}:|{new string('-', 12)}:|");
        var total = new double[rows.Count];
        for (int k = 0; k < rows.Count; k++)
        {
            total[k] = Median(appCpu[k]) + Median(daemonCpu[k]);
            Console.WriteLine($"| {rows[k].Name,-40} | {lat[k].Count,7} | {Percentile(lat[k], 0.5),7:F2} | {Percentile(lat[k], 0.99),7:F2} | {Percentile(lat[k], 0.999),8:F2} | {Median(appCpu[k]),13:F2} | {Median(daemonCpu[k]),12:F2} | {total[k],11:F2} |");
        }
        Console.WriteLine();
        Console.WriteLine($"FUSE pwrite / direct Store, CPU per op: **{total[2] / total[0]:F1}x**; / memcpy + Persist: {total[2] / total[1]:F1}x; p50 latency: {Percentile(lat[2], 0.5) / Percentile(lat[0], 0.5):F1}x (target: direct >= 10x cheaper)");
        Console.WriteLine("CPU us/op: medians over rounds; app = this thread (clock_gettime THREAD_CPUTIME, includes the kernel's FUSE work done in it), daemon = utime+stime from /proc/PID/stat (10 ms ticks).");
        Console.WriteLine();
    }

    // ---------------------------------------------------------------- 3. prepare-write

    private static void Prepare(BenchMount mount, int rounds)
    {
        const int files = 10_000;
        Console.WriteLine($"## 3. PMEMFS_IOC_PREPARE_WRITE latency through the mount: one 4 KiB hole with EXTEND_SIZE per sample (every other block, so each allocates), {rounds} rounds");
        Console.WriteLine();
        Console.WriteLine("Loaded phases sample for as long as another process (/bin/sh, builtins only) runs 10,000 iterations of its loop:");
        Console.WriteLine("\"creates\": `: > DIR/fN` (a new empty file each: lookup, create, flush, release; one journal commit);");
        Console.WriteLine("\"open+read\": `read x < FILE` of one existing file (open, read, flush, release: the same FUSE traffic, no journal commit).");
        Console.WriteLine();
        var ratios = new List<string>();
        foreach (string threads in new[] { "1", "2" })
        {
            if (threads != "1") mount.Remount($"threads={threads}");
            var (ratio, readRatio) = PreparePhases(mount, rounds, files, threads);
            ratios.Add($"threads={threads}: creates {ratio:F2}, open+read {readRatio:F2}");
        }
        Console.WriteLine($"p99 under load / idle p99 — {string.Join("; ", ratios)} (target <= 2 for creates)");
        Console.WriteLine();
    }

    private static (double Creates, double Reads) PreparePhases(BenchMount mount, int rounds, int files, string threads)
    {
        string path = mount.DaxFile($"prep-t{threads}");
        string readFile = Path.Combine(mount.Dir, $"readme-t{threads}");
        File.WriteAllText(readFile, "x\n"); // one line: dash's read stops at the newline (it reads byte by byte)
        File.ReadAllBytes(readFile); // relatime: the one access-time update happens here, not during a phase
        int fd = Native.open(path, Native.O_RDWR, 0);
        if (fd < 0) throw new InvalidOperationException($"{path}: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            var lease = new PmemFsLease { Version = PmemFsLeaseAbi.Version, Mode = PmemFsLeaseAbi.ModeWrite, Offset = 0, Length = PmemFsLeaseAbi.LengthToEnd };
            if (Native.ioctl(fd, PmemFsLeaseAbi.LeaseAcquire, &lease) != 0) throw new InvalidOperationException($"lease: errno {Marshal.GetLastPInvokeError()}");
            var map = (PmemFsMap*)NativeMemory.AlignedAlloc(PmemFsMap.Size, 64);
            long next = 0;
            double Sample()
            {
                *map = new PmemFsMap { Version = PmemFsMapAbi.Version, Offset = (ulong)next, Length = Small, Flags = PmemFsMapAbi.PrepareExtendSize };
                long t0 = Stopwatch.GetTimestamp();
                if (Native.ioctl(fd, PmemFsMapAbi.PrepareWrite, map) != 0) throw new InvalidOperationException($"prepare-write at {next}: errno {Marshal.GetLastPInvokeError()}");
                double us = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
                next += 2 * Small;
                return us;
            }
            for (int i = 0; i < 2000; i++) Sample(); // warm-up

            // Where an idle prepare-write's time goes: the FUSE round trip (GET_MAP: no commit, no
            // invalidation), the page-cache invalidation that precedes every prepare-write's reply
            // (prepare of a written range: no allocation, no commit), and the allocating case.
            double Ioctl(uint cmd, long offset, uint flags)
            {
                *map = new PmemFsMap { Version = PmemFsMapAbi.Version, Offset = (ulong)offset, Length = Small, Flags = flags };
                long t0 = Stopwatch.GetTimestamp();
                if (Native.ioctl(fd, cmd, map) != 0) throw new InvalidOperationException($"ioctl {cmd:X} at {offset}: errno {Marshal.GetLastPInvokeError()}");
                return Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            }
            var parts = new[] { new List<double>(), new List<double>(), new List<double>() };
            var rng = new Random(10);
            for (int i = 0; i < 3000; i++)
            {
                parts[0].Add(Ioctl(PmemFsMapAbi.GetMap, rng.NextInt64(next / (2 * Small)) * 2 * Small, 0));
                parts[1].Add(Ioctl(PmemFsMapAbi.PrepareWrite, rng.NextInt64(next / (2 * Small)) * 2 * Small, 0));
                parts[2].Add(Sample());
            }
            Console.WriteLine($"threads={threads}, idle, interleaved:");
            Console.WriteLine();
            Console.WriteLine($"| {"ioctl (idle)",-44} | {"samples",8} | {"p50 us",8} | {"p99 us",8} | {"p99.9 us",9} |");
            Console.WriteLine($"|{new string('-', 46)}|{new string('-', 9)}:|{new string('-', 9)}:|{new string('-', 9)}:|{new string('-', 10)}:|");
            string[] partNames = ["GET_MAP, 4 KiB written (round trip only)", "PREPARE_WRITE, 4 KiB written (+ invalidation)", "PREPARE_WRITE, 4 KiB hole + EXTEND_SIZE"];
            for (int k = 0; k < 3; k++)
                Console.WriteLine($"| {partNames[k],-44} | {parts[k].Count,8} | {Percentile(parts[k], 0.5),8:F1} | {Percentile(parts[k], 0.99),8:F1} | {Percentile(parts[k], 0.999),9:F0} |");
            Console.WriteLine();

            Console.WriteLine($"threads={threads}:");
            Console.WriteLine();
            Console.WriteLine($"| {"phase",-26} | {"samples",8} | {"p50 us",8} | {"p99 us",8} | {"p99.9 us",9} | {"max us",9} | {"load ops/s",10} |");
            Console.WriteLine($"|{new string('-', 28)}|{new string('-', 9)}:|{new string('-', 9)}:|{new string('-', 9)}:|{new string('-', 10)}:|{new string('-', 10)}:|{new string('-', 11)}:|");
            var idleAll = new List<double>();
            var createAll = new List<double>();
            var readAll = new List<double>();
            int idleSamples = 4000;
            for (int r = 1; r <= rounds; r++)
            {
                var lat = new List<double>();
                for (int i = 0; i < idleSamples; i++) lat.Add(Sample());
                Report($"idle, round {r}", lat, 0);
                idleAll.AddRange(lat);

                string dir = Path.Combine(mount.Dir, $"load-t{threads}-r{r}");
                Directory.CreateDirectory(dir);
                lat = [];
                double rate = Loaded(lat, Sample, $"i=0; while [ $i -lt {files} ]; do : > {dir}/f$i || exit 3; i=$((i+1)); done", files);
                Report($"{files / 1000}k creates, round {r}", lat, rate);
                createAll.AddRange(lat);
                idleSamples = Math.Max(1000, lat.Count);

                lat = [];
                if (!File.Exists(readFile))
                    throw new InvalidOperationException($"{readFile} is gone after the creates phase: the root holds [{string.Join(", ", Directory.GetFileSystemEntries(mount.Dir).Select(Path.GetFileName))}]");
                rate = Loaded(lat, Sample, $"i=0; while [ $i -lt {files} ]; do read x < {readFile} || [ $? = 1 ] || exit 3; i=$((i+1)); done", files);
                Report($"{files / 1000}k open+read, round {r}", lat, rate);
                readAll.AddRange(lat);
            }
            Report("idle, all rounds", idleAll, 0);
            Report($"{files / 1000}k creates, all rounds", createAll, 0);
            Report($"{files / 1000}k open+read, all rounds", readAll, 0);
            Console.WriteLine();
            NativeMemory.AlignedFree(map);
            double idle99 = Percentile(idleAll, 0.99);
            return (Percentile(createAll, 0.99) / idle99, Percentile(readAll, 0.99) / idle99);
        }
        finally { Native.close(fd); }
    }

    /// <summary>Samples while a child shell runs <paramref name="script"/>; returns the child's iterations per second.</summary>
    private static double Loaded(List<double> lat, Func<double> sample, string script, int iterations)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = "/" };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        var sw = Stopwatch.StartNew();
        using var child = Process.Start(psi)!;
        var done = child.WaitForExitAsync();
        try
        {
            while (!done.IsCompleted) lat.Add(sample());
        }
        catch
        {
            child.Kill(); // our own child, by its pid: it must not keep the mount busy
            child.WaitForExit();
            throw;
        }
        done.Wait();
        double s = sw.Elapsed.TotalSeconds;
        if (child.ExitCode != 0) throw new InvalidOperationException($"load process exited {child.ExitCode}: {script}");
        return iterations / s;
    }

    private static void Report(string phase, List<double> lat, double rate) =>
        Console.WriteLine($"| {phase,-26} | {lat.Count,8} | {Percentile(lat, 0.5),8:F1} | {Percentile(lat, 0.99),8:F1} | {Percentile(lat, 0.999),9:F0} | {lat.Max(),9:F0} | {(rate > 0 ? rate.ToString("F0") : ""),10} |");

    // ---------------------------------------------------------------- helpers

    private static double Mib(long bytes, double seconds) => bytes / 1048576.0 / seconds;

    /// <summary>Wall seconds and this thread's CPU seconds of <paramref name="a"/>.</summary>
    private static (double Wall, double Cpu) Time(Action a)
    {
        double c0 = Native.ThreadCpu();
        long t0 = Stopwatch.GetTimestamp();
        a();
        return (Stopwatch.GetElapsedTime(t0).TotalSeconds, Native.ThreadCpu() - c0);
    }

    private static double Median(List<double> xs) => Percentile(xs, 0.5);

    private static double Percentile(List<double> xs, double p)
    {
        if (xs.Count == 0) return double.NaN;
        var sorted = xs.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
    }

    /// <summary>
    /// A fresh image under /dev/shm mounted with the installed `pmemfs`. Dispose always unmounts
    /// (`pmemfs unmount`, else `umount -l`), kills the daemon it started if it is still there (by
    /// pid, after checking its command line names this mount), and deletes the image.
    /// </summary>
    private sealed class BenchMount : IDisposable
    {
        private readonly Lock _lock = new();
        private bool _disposed;

        public BenchMount(string size)
        {
            Root = $"/dev/shm/pmemfs-bench-direct-{Environment.ProcessId}";
            Image = Path.Combine(Root, "image");
            Dir = Path.Combine(Root, "mnt");
            Directory.CreateDirectory(Dir);
            try { Run("pmemfs", "mkfs", Image, "--size", size, "--force", "--quiet"); }
            catch { Dispose(); throw; }
        }

        public string Root { get; }
        public string Image { get; }
        public string Dir { get; }
        public int Pid { get; private set; }
        private string Name => Dir.TrimStart('/').Replace('/', '-');

        public void Mount(string options)
        {
            var args = new List<string> { "mount", Image, Dir };
            if (options.Length > 0) args.AddRange(["-o", options]);
            Run("pmemfs", [.. args]);
            string pidFile = $"/run/pmemfs/{Name}.pid";
            var sw = Stopwatch.StartNew();
            while (!(File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid) && IsOurs(pid) && (Pid = pid) > 0))
            {
                if (sw.Elapsed > TimeSpan.FromSeconds(5)) throw new InvalidOperationException($"mounted, but {pidFile} names no daemon of ours");
                Thread.Sleep(20);
            }
            Console.WriteLine($"mounted {Image} on {Dir}{(options.Length > 0 ? $" -o {options}" : "")}, daemon pid {Pid}");
            Console.WriteLine();
        }

        public void Remount(string options)
        {
            Unmount();
            Mount(options);
        }

        /// <summary>An empty file with the DAX flag.</summary>
        public string DaxFile(string name)
        {
            string p = Path.Combine(Dir, name);
            File.WriteAllBytes(p, []);
            Run("pmemfs", "chattr", "+dax", p);
            return p;
        }

        /// <summary>The daemon's user+system CPU seconds so far.</summary>
        public double DaemonCpu()
        {
            var stat = File.ReadAllText($"/proc/{Pid}/stat");
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields 14 and 15 of stat(5); f[0] is field 3
            return (long.Parse(f[11]) + long.Parse(f[12])) / (double)Native.ClockTicks;
        }

        private bool IsOurs(int pid)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                if (stat[stat.LastIndexOf(')') + 2] == 'Z') return false;
                var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                return cmd.Contains(Dir, StringComparison.Ordinal) || cmd.Contains(Image, StringComparison.Ordinal);
            }
            catch (IOException) { return false; }
        }

        private bool IsMounted() => File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ') is { Length: > 4 } f && f[4] == Dir);

        private void Unmount()
        {
            int pid = Pid;
            if (IsMounted())
            {
                try { Run("pmemfs", "unmount", Dir); }
                catch (Exception e) { Console.Error.WriteLine($"pmemfs unmount: {e.Message}"); }
                if (IsMounted()) Process.Start("umount", ["-l", Dir])!.WaitForExit();
            }
            if (pid > 0)
            {
                var sw = Stopwatch.StartNew();
                while (IsOurs(pid) && sw.Elapsed < TimeSpan.FromSeconds(20)) Thread.Sleep(20);
                if (IsOurs(pid))
                {
                    Console.Error.WriteLine($"daemon {pid} still runs after unmount: killing it");
                    Native.kill(pid, 9);
                }
            }
            Pid = 0;
        }

        public void Dispose()
        {
            lock (_lock)
            {
                if (_disposed) return;
                _disposed = true;
                try { Unmount(); }
                finally
                {
                    try
                    {
                        if (!IsMounted()) Directory.Delete(Root, recursive: true);
                        string log = $"/var/log/pmemfs/{Name}.log";
                        if (File.Exists(log)) File.Delete(log);
                    }
                    catch (IOException e) { Console.Error.WriteLine($"cleanup: {e.Message}"); }
                }
            }
        }

        private static void Run(string cmd, params string[] args)
        {
            var psi = new ProcessStartInfo(cmd) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string o = p.StandardOutput.ReadToEnd(), e = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{cmd} {string.Join(' ', args)} exited {p.ExitCode}\n{o}{e}");
        }
    }

    /// <summary>libpmem2's persist and memcpy for cache-line granularity, from a map of <paramref name="fd"/>'s file.</summary>
    private sealed class Pmem2Functions : IDisposable
    {
        private nint _source, _map;

        public Pmem2Functions(int fd)
        {
            nint src, cfg, map;
            Check(Native.pmem2_source_from_fd(&src, fd));
            _source = src;
            Check(Native.pmem2_config_new(&cfg));
            try
            {
                Check(Native.pmem2_config_set_required_store_granularity(cfg, 2 /* PAGE: accept any */));
                Check(Native.pmem2_config_set_length(cfg, 4096));
                Native.setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 1);
                try { Check(Native.pmem2_map_new(&map, cfg, _source)); }
                finally { Native.unsetenv("PMEM2_FORCE_GRANULARITY"); }
                _map = map;
            }
            finally { _ = Native.pmem2_config_delete(&cfg); }
            if (Native.pmem2_map_get_store_granularity(_map) != 1) throw new InvalidOperationException("libpmem2 did not give cache-line granularity");
            Persist = Native.pmem2_get_persist_fn(_map);
            MemcpyPersist = Native.pmem2_get_memcpy_fn(_map);
        }

        public delegate* unmanaged<void*, nuint, void> Persist { get; }
        public delegate* unmanaged<void*, void*, nuint, uint, void*> MemcpyPersist { get; }

        private static void Check(int rc)
        {
            if (rc != 0) throw new InvalidOperationException($"libpmem2: {rc}");
        }

        public void Dispose()
        {
            nint m = _map, s = _source;
            if (m != 0) _ = Native.pmem2_map_delete(&m);
            if (s != 0) _ = Native.pmem2_source_delete(&s);
            _map = _source = 0;
        }
    }

    private static partial class Native
    {
        private const string C = "libc.so.6", P = "libpmem2.so.1";
        public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000;
        public const int O_RDWR = 2, O_CREAT = 0x40;

        public static readonly long ClockTicks = sysconf(2 /* _SC_CLK_TCK */);

        [StructLayout(LayoutKind.Sequential)]
        private struct Timespec { public long Sec, Nsec; }

        public static double ThreadCpu()
        {
            Timespec t;
            _ = clock_gettime(3 /* CLOCK_THREAD_CPUTIME_ID */, &t);
            return t.Sec + t.Nsec * 1e-9;
        }

        [LibraryImport(C)] private static partial int clock_gettime(int clock, Timespec* t);
        [LibraryImport(C)] private static partial long sysconf(int name);
        [LibraryImport(C, SetLastError = true)] public static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);
        [LibraryImport(C, SetLastError = true)] public static partial int munmap(void* addr, nuint length);
        [LibraryImport(C)] public static partial void* memcpy(void* dst, void* src, nuint n);
        [LibraryImport(C)] public static partial void* memset(void* dst, int c, nuint n);
        [LibraryImport(C, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int open(string path, int flags, uint mode);
        [LibraryImport(C, SetLastError = true)] public static partial int close(int fd);
        [LibraryImport(C, SetLastError = true)] public static partial int ftruncate(int fd, long length);
        [LibraryImport(C, SetLastError = true)] public static partial nint pwrite(int fd, void* buf, nuint count, long offset);
        [LibraryImport(C, SetLastError = true)] public static partial int ioctl(int fd, nuint request, void* arg);
        [LibraryImport(C, SetLastError = true)] public static partial int kill(int pid, int sig);
        [LibraryImport(C, StringMarshalling = StringMarshalling.Utf8)] public static partial int setenv(string name, string value, int overwrite);
        [LibraryImport(C, StringMarshalling = StringMarshalling.Utf8)] public static partial int unsetenv(string name);

        [LibraryImport(P)] public static partial int pmem2_source_from_fd(nint* src, int fd);
        [LibraryImport(P)] public static partial int pmem2_source_delete(nint* src);
        [LibraryImport(P)] public static partial int pmem2_config_new(nint* cfg);
        [LibraryImport(P)] public static partial int pmem2_config_delete(nint* cfg);
        [LibraryImport(P)] public static partial int pmem2_config_set_required_store_granularity(nint cfg, int g);
        [LibraryImport(P)] public static partial int pmem2_config_set_length(nint cfg, nuint length);
        [LibraryImport(P)] public static partial int pmem2_map_new(nint* map, nint cfg, nint src);
        [LibraryImport(P)] public static partial int pmem2_map_delete(nint* map);
        [LibraryImport(P)] public static partial int pmem2_map_get_store_granularity(nint map);
        [LibraryImport(P)] public static partial delegate* unmanaged<void*, nuint, void> pmem2_get_persist_fn(nint map);
        [LibraryImport(P)] public static partial delegate* unmanaged<void*, void*, nuint, uint, void*> pmem2_get_memcpy_fn(nint map);
    }
}
