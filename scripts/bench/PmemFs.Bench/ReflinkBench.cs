using System.Diagnostics;
using System.Runtime.InteropServices;

namespace PmemFs.Bench;

/// <summary>
/// `PmemFs.Bench reflink [SIZE_MIB] [ROUNDS] [SAMPLES]`: copy_file_range of a SIZE_MIB file through a
/// real mount (the installed pmemfs), shared against copied, and the first 4 KiB write to a shared
/// block (copy on write) against a 4 KiB overwrite of an unshared one. Shares the mount fixture
/// and libc bindings of the direct benchmark (this is a part of the same class).
/// </summary>
/// <remarks>
/// "Copied" is copy_file_range with the destination offset 512 bytes off the source's block
/// alignment: the daemon then copies every byte through the same request and code path (its copy
/// loop, 1 MiB steps, each a durable write), which is exactly what a copy costs when sharing is not
/// possible; a second mount would add the kernel's fallback (read and write through user space)
/// instead. Bytes written are the data blocks the file system allocated (statfs free blocks before
/// and after): the daemon writes the region with stores into a mapping, which /proc/PID/io does not
/// count (write_bytes counts block-device writeback, wchar write(2) bytes; both are printed).
/// </remarks>
internal static unsafe partial class DirectBench
{
    public static int RunReflink(int sizeMiB, int rounds, int samples)
    {
        long size = (long)sizeMiB << 20;
        PrintMachine(rounds);
        using var mount = new BenchMount($"{sizeMiB * 2 + 512}M");
        ConsoleCancelEventHandler onCancel = (_, _) => mount.Dispose();
        Console.CancelKeyPress += onCancel;
        try
        {
            mount.Mount("");
            string src = Path.Combine(mount.Dir, "src");
            WriteFile(src, size);
            Console.WriteLine($"## copy_file_range of a {sizeMiB} MiB file ({rounds} rounds, median; each copy deleted before the next)");
            Console.WriteLine();
            Console.WriteLine($"| {"copy",-44} | {"wall ms",8} | {"daemon CPU ms",13} | {"data written MiB",16} | {"daemon write_bytes",18} | {"daemon wchar",12} |");
            Console.WriteLine($"|{new string('-', 46)}|{new string('-', 10)}|{new string('-', 15)}|{new string('-', 18)}|{new string('-', 20)}|{new string('-', 14)}|");
            var results = new Dictionary<string, List<(double Wall, double Cpu, double Mib, long Wb, long Wc)>>();
            foreach (var (name, dstOffset) in new[] { ("shared (offsets congruent: cp, cp --reflink)", 0L), ("copied (destination offset 512 B off)", 512L) })
            {
                var list = results[name] = [];
                for (int r = 0; r < rounds; r++)
                {
                    string dst = Path.Combine(mount.Dir, $"dst-{r}");
                    long free0 = FreeBytes(mount.Dir);
                    var io0 = DaemonIo(mount.Pid);
                    double cpu0 = mount.DaemonCpu();
                    var sw = Stopwatch.StartNew();
                    long copied = CopyRange(src, dst, size, dstOffset);
                    double wall = sw.Elapsed.TotalMilliseconds;
                    double cpu = (mount.DaemonCpu() - cpu0) * 1000;
                    var io1 = DaemonIo(mount.Pid);
                    if (copied != size) throw new InvalidOperationException($"copy_file_range copied {copied} of {size}");
                    list.Add((wall, cpu, (free0 - FreeBytes(mount.Dir)) / 1048576.0, io1.WriteBytes - io0.WriteBytes, io1.Wchar - io0.Wchar));
                    File.Delete(dst);
                }
                Console.WriteLine($"| {name,-44} | {Median(list.Select(x => x.Wall).ToList()),8:F0} | {Median(list.Select(x => x.Cpu).ToList()),13:F0} | {Median(list.Select(x => x.Mib).ToList()),16:F1} | {list.Select(x => x.Wb).Order().ElementAt(list.Count / 2),18} | {list.Select(x => x.Wc).Order().ElementAt(list.Count / 2),12} |");
            }
            double shared = Median(results.First().Value.Select(x => x.Wall).ToList()), copiedMs = Median(results.Last().Value.Select(x => x.Wall).ToList());
            Console.WriteLine();
            Console.WriteLine($"shared / copied wall time: 1 : {copiedMs / Math.Max(shared, 0.001):F0}");
            Console.WriteLine();

            // Copy on write: the first 4 KiB write to a block the destination shares with the source,
            // against a 4 KiB overwrite of a block of an unshared file (the copied one), at random
            // distinct blocks; then a second write to the blocks the first round unshared.
            string sharedCopy = Path.Combine(mount.Dir, "shared");
            string plainCopy = Path.Combine(mount.Dir, "plain");
            CopyRange(src, sharedCopy, size, 0);
            WriteFile(plainCopy, size);
            var rng = new Random(42);
            var blocks = Enumerable.Range(0, (int)(size / 4096)).OrderBy(_ => rng.Next()).Take(samples).Select(b => b * 4096L).ToList();
            Console.WriteLine($"## 4 KiB pwrite latency, {samples} random distinct blocks each (one thread, durable on return)");
            Console.WriteLine();
            Console.WriteLine($"| {"write",-52} | {"samples",7} | {"p50 us",8} | {"p99 us",8} | {"data written MiB",16} |");
            Console.WriteLine($"|{new string('-', 54)}|{new string('-', 9)}|{new string('-', 10)}|{new string('-', 10)}|{new string('-', 18)}|");
            var rows = new List<(string, List<double>)>();
            foreach (var (name, path) in new[]
            {
                ("unshared block (overwrite in place)", plainCopy),
                ("shared block, first write (copy on write)", sharedCopy),
                ("the same blocks again (now unshared)", sharedCopy),
            })
            {
                long free0 = FreeBytes(mount.Dir);
                var lat = Pwrites(path, blocks);
                double mib = (free0 - FreeBytes(mount.Dir)) / 1048576.0;
                rows.Add((name, lat));
                Console.WriteLine($"| {name,-52} | {lat.Count,7} | {Percentile(lat, 0.5),8:F1} | {Percentile(lat, 0.99),8:F1} | {mib,16:F1} |");
            }
            Console.WriteLine();
            Console.WriteLine($"first write to a shared block / overwrite of an unshared one: p50 {Percentile(rows[1].Item2, 0.5) / Percentile(rows[0].Item2, 0.5):F1}x, p99 {Percentile(rows[1].Item2, 0.99) / Percentile(rows[0].Item2, 0.99):F1}x");
            return 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    private static void WriteFile(string path, long size)
    {
        const int Step = 2 << 20;
        var buf = (byte*)NativeMemory.AlignedAlloc(Step, 4096);
        try
        {
            new Random(5).NextBytes(new Span<byte>(buf, Step));
            int fd = Native.open(path, 0x41 /* O_WRONLY|O_CREAT */, 0x1A4);
            if (fd < 0) throw new InvalidOperationException($"{path}: errno {Marshal.GetLastPInvokeError()}");
            try
            {
                for (long o = 0; o < size; o += Step)
                    if (Native.pwrite(fd, buf, (nuint)Math.Min(Step, size - o), o) <= 0) throw new InvalidOperationException($"pwrite: errno {Marshal.GetLastPInvokeError()}");
            }
            finally { Native.close(fd); }
        }
        finally { NativeMemory.AlignedFree(buf); }
    }

    /// <summary>copy_file_range of [0, size) of <paramref name="src"/> to a new <paramref name="dst"/> at <paramref name="dstOffset"/>, in as many calls as it takes.</summary>
    private static long CopyRange(string src, string dst, long size, long dstOffset)
    {
        int s = Native.open(src, 0, 0), d = Native.open(dst, 0x41, 0x1A4);
        if (s < 0 || d < 0) throw new InvalidOperationException($"open: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            long inOff = 0, outOff = dstOffset;
            while (inOff < size)
            {
                nint n = Native.copy_file_range(s, &inOff, d, &outOff, (nuint)(size - inOff), 0);
                if (n < 0) throw new InvalidOperationException($"copy_file_range: errno {Marshal.GetLastPInvokeError()}");
                if (n == 0) break;
            }
            return inOff;
        }
        finally
        {
            Native.close(s);
            Native.close(d);
        }
    }

    private static List<double> Pwrites(string path, List<long> offsets)
    {
        var buf = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        new Span<byte>(buf, 4096).Fill(0x3c);
        int fd = Native.open(path, 1 /* O_WRONLY */, 0);
        var lat = new List<double>(offsets.Count);
        try
        {
            foreach (long o in offsets)
            {
                long t0 = Stopwatch.GetTimestamp();
                if (Native.pwrite(fd, buf, 4096, o) != 4096) throw new InvalidOperationException($"pwrite: errno {Marshal.GetLastPInvokeError()}");
                lat.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
            }
        }
        finally
        {
            Native.close(fd);
            NativeMemory.AlignedFree(buf);
        }
        return lat;
    }

    private static long FreeBytes(string path)
    {
        var d = new DriveInfo(path);
        return d.TotalFreeSpace;
    }

    private static (long WriteBytes, long Wchar) DaemonIo(int pid)
    {
        long wb = 0, wc = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/io"))
        {
            if (line.StartsWith("write_bytes:", StringComparison.Ordinal)) wb = long.Parse(line[12..].Trim());
            if (line.StartsWith("wchar:", StringComparison.Ordinal)) wc = long.Parse(line[6..].Trim());
        }
        return (wb, wc);
    }

    private static partial class Native
    {
        [LibraryImport(C, SetLastError = true)] public static partial nint copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);
    }
}
