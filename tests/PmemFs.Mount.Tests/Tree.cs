using System.Security.Cryptography;
using System.Text;

namespace PmemFs.Mount.Tests;

/// <summary>One entry of a tree as lstat and its content see it.</summary>
internal sealed record TreeEntry(char Type, uint Mode, uint Uid, uint Gid, long Size, string Content, long MTimeSec, long MTimeNsec, ulong Ino, ulong Nlink,
    string Xattrs);

/// <summary>Generated test trees and their comparison.</summary>
internal static class Tree
{
    private static readonly UnixFileMode[] FileModes =
    [
        (UnixFileMode)0x1A4 /* 0644 */, (UnixFileMode)0x180 /* 0600 */, (UnixFileMode)0x1ED /* 0755 */, (UnixFileMode)0x100 /* 0400 */,
        (UnixFileMode)0 /* 0000 */, (UnixFileMode)0x124 /* 0444 */, (UnixFileMode)0x9ED /* 4755 */, (UnixFileMode)0x5ED /* 2755 */,
        (UnixFileMode)0x1FF /* 0777 */, (UnixFileMode)0x1A0 /* 0640 */,
    ];

    private static readonly UnixFileMode[] DirModes =
    [
        (UnixFileMode)0x1ED /* 0755 */, (UnixFileMode)0x1C0 /* 0700 */, (UnixFileMode)0x3FF /* 1777 */, (UnixFileMode)0x5FD /* 2775 */,
        (UnixFileMode)0x16D /* 0555 */,
    ];

    /// <summary>
    /// A deterministic tree of about <paramref name="files"/> files in nested directories: sizes from
    /// empty to 1 MiB, a sparse file, odd names, odd modes (setuid, sticky, 0000), other owners,
    /// symbolic links (relative, absolute, dangling), hard links and empty directories.
    /// </summary>
    public static void Generate(string root, int files, int seed)
    {
        var rng = new Random(seed);
        Directory.CreateDirectory(root);
        var dirs = new List<string> { root };
        for (int i = 0; i < files / 40; i++)
        {
            string parent = dirs[rng.Next(dirs.Count)];
            string name = i % 7 == 0 ? $"dir with spaces {i}" : i % 11 == 0 ? $"ü-dír-{i}" : $"d{i}";
            if (Path.GetRelativePath(root, parent).Count(c => c == '/') > 4) parent = root;
            var d = Path.Combine(parent, name);
            Directory.CreateDirectory(d);
            dirs.Add(d);
        }
        var made = new List<string>();
        for (int i = 0; i < files; i++)
        {
            string dir = dirs[rng.Next(dirs.Count)];
            string name = (i % 97) switch
            {
                0 => new string('L', 200) + i,
                1 => $"name with spaces {i}.txt",
                2 => $"ümlaut-ß-{i}",
                3 => $".hidden{i}",
                4 => $"-dash{i}",
                _ => $"f{i}.{(i % 5 == 0 ? "bin" : "txt")}",
            };
            string path = Path.Combine(dir, name);
            int r = rng.Next(1000);
            int size = r < 850 ? rng.Next(0, 4097) : r < 995 ? rng.Next(4097, 65536) : rng.Next(65536, 1 << 20);
            var data = new byte[size];
            if (i % 3 == 0) rng.NextBytes(data);
            else Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"line {i} of a text file\n", size / 20 + 1))).AsSpan(0, size).CopyTo(data);
            File.WriteAllBytes(path, data);
            made.Add(path);
        }
        // A sparse file: 5 MiB with data only at 1 MiB and at the end.
        string sparse = Path.Combine(root, "sparse.img");
        using (var fsparse = new FileStream(sparse, FileMode.CreateNew))
        {
            fsparse.SetLength(5 << 20);
            fsparse.Position = 1 << 20;
            fsparse.Write("sparse data"u8);
            fsparse.Position = (5 << 20) - 7;
            fsparse.Write("the end"u8);
        }
        for (int i = 0; i < 50; i++)
        {
            string target = made[rng.Next(made.Count)];
            string link = Path.Combine(dirs[rng.Next(dirs.Count)], $"hardlink{i}");
            if (Native.link(target, link) != 0) throw new NativeException($"link {target} {link}", Native.Errno);
        }
        for (int i = 0; i < 200; i++)
        {
            string dir = dirs[rng.Next(dirs.Count)];
            string link = Path.Combine(dir, $"symlink{i}");
            string target = (i % 4) switch
            {
                0 => Path.GetRelativePath(dir, made[rng.Next(made.Count)]),
                1 => "/etc/hostname",
                2 => $"dangling/target/{i}",
                _ => Path.GetRelativePath(dir, dirs[rng.Next(dirs.Count)]),
            };
            File.CreateSymbolicLink(link, target);
            if (i % 10 == 0 && Native.lchown(link, 1234, 5678) != 0) throw new NativeException("lchown", Native.Errno);
        }
        for (int i = 0; i < 20; i++) Directory.CreateDirectory(Path.Combine(dirs[rng.Next(dirs.Count)], $"empty{i}"));
        // User extended attributes on some files and directories, small and large.
        for (int i = 0; i < 60; i++)
        {
            string target = i % 6 == 0 ? dirs[rng.Next(dirs.Count)] : made[rng.Next(made.Count)];
            var value = new byte[i % 10 == 0 ? rng.Next(1000, 4000) : rng.Next(0, 40)];
            rng.NextBytes(value);
            Native.SetXattr(target, $"user.test{i % 4}", value);
        }
        var epoch = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        foreach (var f in made)
        {
            if (rng.Next(5) == 0 && Native.lchown(f, (uint)rng.Next(1000, 70000), (uint)rng.Next(1000, 70000)) != 0)
                throw new NativeException("lchown", Native.Errno);
            File.SetUnixFileMode(f, FileModes[rng.Next(FileModes.Length)]);
            File.SetLastWriteTimeUtc(f, epoch.AddSeconds(rng.Next(1 << 28)).AddTicks(rng.Next(10_000_000)));
        }
        // Directory modes and times last (children change a directory's mtime).
        foreach (var d in dirs.Skip(1).OrderByDescending(d => d.Length))
        {
            File.SetUnixFileMode(d, DirModes[rng.Next(DirModes.Length)]);
            Directory.SetLastWriteTimeUtc(d, epoch.AddSeconds(rng.Next(1 << 28)));
        }
    }

    /// <summary>Every entry under <paramref name="root"/> (not following symbolic links), by relative path.</summary>
    public static SortedDictionary<string, TreeEntry> Snapshot(string root)
    {
        var result = new SortedDictionary<string, TreeEntry>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            string dir = stack.Pop();
            foreach (var path in Directory.EnumerateFileSystemEntries(dir))
            {
                var st = Native.LStat(path);
                uint fmt = st.Mode & 0xF000;
                char type = fmt switch { 0x8000 => 'f', 0x4000 => 'd', 0xA000 => 'l', _ => '?' };
                string content = type switch
                {
                    'f' => Sha256(path),
                    'l' => new FileInfo(path).LinkTarget ?? "",
                    _ => "",
                };
                string xattrs = type == 'l' ? "" : string.Join(' ', Native.XattrsOf(path)
                    .Where(kv => kv.Key.StartsWith("user.", StringComparison.Ordinal))
                    .Select(kv => $"{kv.Key}={Convert.ToHexString(SHA256.HashData(kv.Value))[..16]}/{kv.Value.Length}"));
                result[Path.GetRelativePath(root, path)] = new TreeEntry(type, st.Mode & 0xFFF, st.Uid, st.Gid, type == 'd' ? 0 : st.Size, content,
                    st.MTimeSec, st.MTimeNsec, st.Ino, st.Nlink, xattrs);
                if (type == 'd') stack.Push(path);
            }
        }
        return result;
    }

    private static string Sha256(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    /// <summary>
    /// Differences between two snapshots (empty when equal): names, types, modes, owners,
    /// sizes, contents, symbolic link targets, modification times of files (to the nanosecond
    /// when <paramref name="nanoseconds"/>) and hard-link groups. Directory times are left out
    /// (a symlink's time, too). User extended attributes when <paramref name="compareXattrs"/>.
    /// </summary>
    public static List<string> Compare(SortedDictionary<string, TreeEntry> want, SortedDictionary<string, TreeEntry> got, bool nanoseconds, bool hardLinks = true, bool compareXattrs = true)
    {
        var problems = new List<string>();
        foreach (var k in want.Keys.Where(k => !got.ContainsKey(k))) problems.Add($"missing: {k}");
        foreach (var k in got.Keys.Where(k => !want.ContainsKey(k))) problems.Add($"unexpected: {k}");
        foreach (var (k, w) in want)
        {
            if (!got.TryGetValue(k, out var g)) continue;
            if (w.Type != g.Type) { problems.Add($"{k}: type {g.Type}, expected {w.Type}"); continue; }
            if (w.Type != 'l' && w.Mode != g.Mode) problems.Add($"{k}: mode {Convert.ToString(g.Mode, 8)}, expected {Convert.ToString(w.Mode, 8)}");
            if (w.Uid != g.Uid || w.Gid != g.Gid) problems.Add($"{k}: owner {g.Uid}:{g.Gid}, expected {w.Uid}:{w.Gid}");
            if (w.Size != g.Size) problems.Add($"{k}: size {g.Size}, expected {w.Size}");
            if (w.Content != g.Content) problems.Add($"{k}: {(w.Type == 'l' ? $"link target '{g.Content}', expected '{w.Content}'" : "content (sha256) differs")}");
            if (compareXattrs && w.Xattrs != g.Xattrs) problems.Add($"{k}: user xattrs [{g.Xattrs}], expected [{w.Xattrs}]");
            if (w.Type == 'f' && (w.MTimeSec != g.MTimeSec || (nanoseconds && w.MTimeNsec != g.MTimeNsec)))
                problems.Add($"{k}: mtime {g.MTimeSec}.{g.MTimeNsec:D9}, expected {w.MTimeSec}.{w.MTimeNsec:D9}");
            if (hardLinks && w.Type == 'f' && w.Nlink != g.Nlink) problems.Add($"{k}: nlink {g.Nlink}, expected {w.Nlink}");
        }
        if (hardLinks)
        {
            // Names that share an inode in one tree share one in the other.
            foreach (var group in want.Where(kv => kv.Value.Type == 'f' && kv.Value.Nlink > 1).GroupBy(kv => kv.Value.Ino))
            {
                var inos = group.Select(kv => got.TryGetValue(kv.Key, out var g) ? g.Ino : 0).Distinct().ToList();
                if (inos.Count != 1) problems.Add($"hard links [{string.Join(", ", group.Select(kv => kv.Key))}] are not one inode any more");
            }
        }
        return problems;
    }

    public static string Describe(List<string> problems) =>
        $"{problems.Count} differences:\n" + string.Join('\n', problems.Take(40)) + (problems.Count > 40 ? "\n..." : "");
}
