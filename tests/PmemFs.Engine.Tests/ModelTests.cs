using System.Text;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Thousands of random operations against the engine and a trivially correct model, checked
/// as they go, after clean remounts, and on copies of the media taken mid-run (a killed process).
/// Seed from PMEMFS_MODEL_SEED (any seed by hand), fixed otherwise.
/// </summary>
public class ModelTests
{
    private sealed class Model
    {
        public readonly Dictionary<ulong, Dictionary<string, ulong>> Dirs = new() { [Root] = [] };
        public readonly Dictionary<ulong, List<byte>> Files = [];
        public readonly Dictionary<ulong, int> Links = [];
        public readonly Dictionary<ulong, Dictionary<string, byte[]>> Xattrs = [];
    }

    public static IEnumerable<object[]> Seeds()
    {
        var env = Environment.GetEnvironmentVariable("PMEMFS_MODEL_SEED");
        if (int.TryParse(env, out int seed)) yield return [seed, 20_000];
        else
        {
            yield return [1, 4000];
            yield return [2, 4000];
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void RandomOperationsMatchTheModelAcrossRemountsAndCrashes(int seed, int steps)
    {
        using var t = new EngineFixture(size: 96L << 20, inodes: 4096);
        var m = new Model();
        var rng = new Random(seed);
        for (int step = 0; step < steps; step++)
        {
            string what = Step(t, m, rng);
            if (step % 500 == 499)
            {
                t.Remount();
                Verify(t.Fs, m, $"seed {seed} step {step} after remount ({what})");
            }
            else if (step % 333 == 0)
            {
                using var copy = MemoryMedia.CopyOf(t.Media);
                using var crashed = FileSystem.Mount(copy);
                Verify(crashed, m, $"seed {seed} step {step} crash copy ({what})");
            }
        }
        t.Remount();
        Verify(t.Fs, m, $"seed {seed} end");
    }

    private static string Step(EngineFixture t, Model m, Random rng)
    {
        var fs = t.Fs;
        var dirs = m.Dirs.Keys.ToList();
        ulong dir = dirs[rng.Next(dirs.Count)];
        var files = m.Files.Keys.ToList();
        string name = $"n{rng.Next(40)}";
        int op = rng.Next(100);
        var who = Credentials.Root;

        if (op < 12)
        {
            var e = fs.Create(dir, N(name), RegularMode, who, out var a);
            if (m.Dirs[dir].ContainsKey(name)) { Assert.Equal(Errno.EEXIST, e); return "create-exists"; }
            if (e == Errno.ENOSPC) return "create-enospc";
            Assert.Equal(Errno.Ok, e);
            m.Dirs[dir][name] = a.Ino;
            m.Files[a.Ino] = [];
            m.Links[a.Ino] = 1;
            return "create";
        }
        if (op < 16)
        {
            var e = fs.MakeDirectory(dir, N(name), DirMode, who, out var a);
            if (m.Dirs[dir].ContainsKey(name)) { Assert.Equal(Errno.EEXIST, e); return "mkdir-exists"; }
            if (e == Errno.ENOSPC) return "mkdir-enospc";
            Assert.Equal(Errno.Ok, e);
            m.Dirs[dir][name] = a.Ino;
            m.Dirs[a.Ino] = [];
            return "mkdir";
        }
        if (files.Count == 0) return "nothing";
        ulong f = files[rng.Next(files.Count)];
        var content = m.Files[f];
        if (op < 45)
        {
            long off = rng.Next(3) == 0 ? content.Count : rng.Next(Math.Max(1, content.Count + 20_000));
            var data = Pattern(rng.Next(1, 24_000), rng.Next());
            var e = fs.Write(f, off, data, who, out _);
            if (e == Errno.ENOSPC) return "write-enospc";
            Assert.Equal(Errno.Ok, e);
            while (content.Count < off + data.Length) content.Add(0);
            for (int i = 0; i < data.Length; i++) content[(int)off + i] = data[i];
            CheckFile(fs, f, content, "write");
            return "write";
        }
        if (op < 52)
        {
            int size = rng.Next(Math.Max(1, content.Count * 2 + 1000));
            Assert.Equal(Errno.Ok, fs.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = size }, who, out _));
            if (size < content.Count) content.RemoveRange(size, content.Count - size);
            else while (content.Count < size) content.Add(0);
            CheckFile(fs, f, content, "truncate");
            return "truncate";
        }
        if (op < 62)
        {
            long off = rng.Next(Math.Max(1, content.Count + 8192));
            long len = rng.Next(1, 40_000);
            var mode = rng.Next(4) switch
            {
                0 => FallocateMode.Default,
                1 => FallocateMode.KeepSize,
                2 => FallocateMode.PunchHole | FallocateMode.KeepSize,
                _ => rng.Next(2) == 0 ? FallocateMode.ZeroRange : FallocateMode.ZeroRange | FallocateMode.KeepSize,
            };
            var e = fs.Fallocate(f, mode, off, len, who);
            if (e == Errno.ENOSPC) return "fallocate-enospc";
            Assert.Equal(Errno.Ok, e);
            if (mode.HasFlag(FallocateMode.PunchHole) || mode.HasFlag(FallocateMode.ZeroRange))
                for (long i = off; i < Math.Min(off + len, content.Count); i++) content[(int)i] = 0;
            if (!mode.HasFlag(FallocateMode.KeepSize)) while (content.Count < off + len) content.Add(0);
            CheckFile(fs, f, content, $"fallocate {mode}");
            return "fallocate";
        }
        if (op < 72)
        {
            // unlink a random name in dir
            var names = m.Dirs[dir].Keys.ToList();
            if (names.Count == 0) return "unlink-none";
            string n = names[rng.Next(names.Count)];
            ulong child = m.Dirs[dir][n];
            if (m.Dirs.TryGetValue(child, out var sub))
            {
                var e = fs.RemoveDirectory(dir, N(n));
                if (sub.Count > 0) { Assert.Equal(Errno.ENOTEMPTY, e); return "rmdir-notempty"; }
                Assert.Equal(Errno.Ok, e);
                m.Dirs.Remove(child);
            }
            else
            {
                Assert.Equal(Errno.Ok, fs.Unlink(dir, N(n)));
                if (--m.Links[child] == 0) { m.Files.Remove(child); m.Links.Remove(child); m.Xattrs.Remove(child); }
            }
            m.Dirs[dir].Remove(n);
            return "unlink";
        }
        if (op < 84)
        {
            // rename something from dir to a random dir
            var names = m.Dirs[dir].Keys.ToList();
            if (names.Count == 0) return "rename-none";
            string n = names[rng.Next(names.Count)];
            ulong child = m.Dirs[dir][n];
            ulong to = dirs[rng.Next(dirs.Count)];
            string newName = $"n{rng.Next(40)}";
            var flags = rng.Next(5) switch { 0 => RenameFlags.NoReplace, 1 => RenameFlags.Exchange, _ => RenameFlags.None };
            var e = fs.Rename(dir, N(n), to, N(newName), flags);
            m.Dirs[to].TryGetValue(newName, out ulong target);
            bool childIsDir = m.Dirs.ContainsKey(child);
            if (target == child) { Assert.Equal(flags == RenameFlags.NoReplace ? Errno.EEXIST : Errno.Ok, e); return "rename-same"; }
            // Linux order: a missing exchange target (ENOENT) is found before a loop (EINVAL).
            if (flags == RenameFlags.Exchange && target == 0) { Assert.Equal(Errno.ENOENT, e); return "exchange-missing"; }
            if (flags == RenameFlags.NoReplace && target != 0) { Assert.Equal(Errno.EEXIST, e); return "rename-noreplace"; }
            if (childIsDir && IsUnder(m, to, child)) { Assert.Equal(Errno.EINVAL, e); return "rename-loop"; }
            if (flags == RenameFlags.Exchange)
            {
                if (m.Dirs.ContainsKey(target) && IsUnder(m, dir, target)) { Assert.Equal(Errno.EINVAL, e); return "exchange-loop"; }
                Assert.Equal(Errno.Ok, e);
                m.Dirs[dir][n] = target;
                m.Dirs[to][newName] = child;
                return "exchange";
            }
            if (target != 0)
            {
                if (flags == RenameFlags.NoReplace) { Assert.Equal(Errno.EEXIST, e); return "rename-noreplace"; }
                bool targetIsDir = m.Dirs.ContainsKey(target);
                if (childIsDir && !targetIsDir) { Assert.Equal(Errno.ENOTDIR, e); return "rename-notdir"; }
                if (!childIsDir && targetIsDir) { Assert.Equal(Errno.EISDIR, e); return "rename-isdir"; }
                if (targetIsDir && m.Dirs[target].Count > 0) { Assert.Equal(Errno.ENOTEMPTY, e); return "rename-notempty"; }
                Assert.Equal(Errno.Ok, e);
                if (targetIsDir) m.Dirs.Remove(target);
                else if (--m.Links[target] == 0) { m.Files.Remove(target); m.Links.Remove(target); m.Xattrs.Remove(target); }
            }
            else Assert.Equal(Errno.Ok, e);
            m.Dirs[dir].Remove(n);
            m.Dirs[to][newName] = child;
            return "rename";
        }
        if (op < 90)
        {
            var e = fs.Link(f, dir, N(name), out _);
            if (m.Dirs[dir].ContainsKey(name)) { Assert.Equal(Errno.EEXIST, e); return "link-exists"; }
            Assert.Equal(Errno.Ok, e);
            m.Dirs[dir][name] = f;
            m.Links[f]++;
            return "link";
        }
        if (op < 96)
        {
            string xn = $"user.x{rng.Next(4)}";
            var xv = Pattern(rng.Next(0, 3000), rng.Next());
            var e = fs.SetXattr(f, N(xn), xv, XattrSetFlags.None);
            if (e == Errno.ENOSPC) return "xattr-enospc";
            Assert.Equal(Errno.Ok, e);
            if (!m.Xattrs.TryGetValue(f, out var xs)) m.Xattrs[f] = xs = [];
            xs[xn] = xv;
            return "setxattr";
        }
        {
            long off = rng.Next(Math.Max(1, content.Count + 100));
            var whence = rng.Next(2) == 0 ? SeekWhence.Data : SeekWhence.Hole;
            var e = fs.Seek(f, off, whence, out long pos);
            if (off >= content.Count) { Assert.Equal(Errno.ENXIO, e); return "seek-eof"; }
            if (e == Errno.ENXIO) { Assert.Equal(SeekWhence.Data, whence); AssertAllZero(content, off, content.Count); return "seek-nodata"; }
            Assert.Equal(Errno.Ok, e);
            Assert.InRange(pos, off, content.Count);
            // Everything skipped over is a hole (reads zero) when seeking data.
            if (whence == SeekWhence.Data) AssertAllZero(content, off, pos);
            return "seek";
        }
    }

    private static void AssertAllZero(List<byte> content, long from, long to)
    {
        for (long i = from; i < to; i++) Assert.True(content[(int)i] == 0, $"byte {i} skipped by SEEK_DATA is not zero");
    }

    private static bool IsUnder(Model m, ulong dir, ulong ancestor)
    {
        if (dir == ancestor) return true;
        foreach (var (d, entries) in m.Dirs)
            if (entries.ContainsValue(dir) && m.Dirs.ContainsKey(dir)) return d != dir && IsUnder(m, d, ancestor);
        return false;
    }

    private static void CheckFile(FileSystem fs, ulong f, List<byte> content, string after)
    {
        Assert.Equal(Errno.Ok, fs.GetAttr(f, out var a));
        Assert.True(content.Count == a.Size, $"size after {after}: model {content.Count}, fs {a.Size}");
        var buf = new byte[content.Count];
        Assert.Equal(Errno.Ok, fs.Read(f, 0, buf, out int n));
        Assert.Equal(content.Count, n);
        int diff = buf.AsSpan().CommonPrefixLength(content.ToArray());
        Assert.True(diff == content.Count, $"contents differ at byte {diff} after {after}");
    }

    private static void Verify(FileSystem fs, Model m, string when)
    {
        foreach (var (dir, entries) in m.Dirs)
        {
            var listed = new Dictionary<string, ulong>();
            Assert.Equal(Errno.Ok, fs.ReadDirectory(dir, 0, item =>
            {
                string s = Encoding.UTF8.GetString(item.Name);
                if (s is not "." and not "..") listed[s] = item.Ino;
                return true;
            }));
            Assert.True(entries.Count == listed.Count, $"{when}: directory {dir} has {listed.Count} entries, model {entries.Count}");
            foreach (var (n, ino) in entries) Assert.True(listed.TryGetValue(n, out var got) && got == ino, $"{when}: {dir}/{n}");
            Assert.Equal(Errno.Ok, fs.GetAttr(dir, out var da));
            Assert.Equal((uint)(2 + entries.Values.Count(m.Dirs.ContainsKey)), da.Nlink);
        }
        foreach (var (f, content) in m.Files)
        {
            CheckFile(fs, f, content, when);
            Assert.Equal(Errno.Ok, fs.GetAttr(f, out var a));
            Assert.Equal((uint)m.Links[f], a.Nlink);
            if (m.Xattrs.TryGetValue(f, out var xs))
                foreach (var (xn, xv) in xs)
                {
                    Assert.Equal(Errno.Ok, fs.GetXattr(f, N(xn), out var got));
                    Assert.Equal(xv, got);
                }
        }
        // Space accounting: every allocated block belongs to a file (no leaks, no double use).
        long used = m.Files.Keys.Sum(f => fs.InodeAt(f)!.AllocatedBlocks);
        var sf = fs.StatFs();
        Assert.True(sf.TotalBlocks - sf.FreeBlocks == used, $"{when}: {sf.TotalBlocks - sf.FreeBlocks} blocks in use, files hold {used}");
    }
}
