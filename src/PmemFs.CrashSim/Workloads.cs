using PmemFs.Engine;
using PmemFs.Engine.Mapping;
using PmemFs.Format;

namespace PmemFs.CrashSim;

/// <summary>A named workload: what it runs, and the image it needs.</summary>
public sealed record Workload(string Name, string Summary, Action<WorkloadDriver> Run, long ImageSize = 16L << 20, long Inodes = 64);

/// <summary>
/// The workloads: one per kind of metadata operation the engine has (each also doing the setup it
/// needs, crash-tested too unless marked), and seeded random mixes of all of them.
/// </summary>
public static class Workloads
{
    private const int Bs = FormatConstants.BlockSize;

    public static IReadOnlyList<Workload> All { get; } =
    [
        new("create", "create files in the root and a subdirectory", Create),
        new("mkdir", "nested directories", Mkdir),
        new("write", "writes that extend, overwrite, fill holes, go through the non-temporal path, write into unwritten extents", Write),
        new("unlink", "unlink files with data and xattrs, hard links, empty files", Unlink),
        new("rmdir", "remove empty directories (with an xattr, nested)", Rmdir),
        new("rename", "rename: plain, over an existing file, NOREPLACE, EXCHANGE, cross-directory, directories", Rename),
        new("link", "hard links, then unlink of the first name", Link),
        new("symlink", "short and long symlinks", Symlink),
        new("truncate", "truncate down, up, inside a block, to zero", Truncate),
        new("truncate-long", "a truncate of more than 1024 extents (PendingTrim, several transactions)", TruncateLong, Inodes: 1024),
        new("fallocate", "fallocate default mode (preallocate, extend)", f => Fallocate(f, FallocateMode.Default)),
        new("fallocate-keep-size", "fallocate KEEP_SIZE", f => Fallocate(f, FallocateMode.KeepSize)),
        new("fallocate-punch", "fallocate PUNCH_HOLE|KEEP_SIZE", f => Fallocate(f, FallocateMode.PunchHole | FallocateMode.KeepSize)),
        new("fallocate-zero", "fallocate ZERO_RANGE", f => Fallocate(f, FallocateMode.ZeroRange)),
        new("fallocate-zero-keep-size", "fallocate ZERO_RANGE|KEEP_SIZE", f => Fallocate(f, FallocateMode.ZeroRange | FallocateMode.KeepSize)),
        new("xattr", "xattr set, replace, create-exclusive, remove; small and multi-block; on files and directories", Xattr),
        new("flags", "chattr: DAX on a directory and inheritance, immutable, append, DAX_IMMUTABLE set and cleared, mapped writeback in place, refusals", Flags),
        new("prepare-write", "prepare-write of holes, unwritten blocks, written blocks, with and without ExtendSize, then direct stores + flush through the media; refusals", PrepareWrite),
        new("clone", "reflink: whole files, ranges, onto existing data, past EOF, an unaligned tail at the source's end, within one file, a third owner; unlink of owners", Clone),
        new("copy-on-write", "every change of shared blocks: writes (middle, edges, across EOF), truncate into a shared block and grow, punch, zero range, preallocate, prepare-write", CopyOnWrite),
        new("log-wrap", "operations that cross the end of the log ring: the commit that does not fit moves the tail (header write) and goes to offset 0", LogWrap),
        new("mix", "a seeded random mix of every operation", d => Mix(d, 40)),
    ];

    public static Workload? Find(string name) => All.FirstOrDefault(w => w.Name == name);

    private static void Create(WorkloadDriver d)
    {
        ulong dir = d.Mkdir(d.Root, "d");
        d.Create(d.Root, "a");
        d.Create(d.Root, "b");
        d.Create(dir, "c");
        d.Create(dir, "c", expect: Errno.EEXIST);
        d.Create(d.Root, new string('n', 255));
    }

    private static void Mkdir(WorkloadDriver d)
    {
        ulong a = d.Mkdir(d.Root, "a");
        ulong b = d.Mkdir(a, "b");
        d.Mkdir(b, "c");
        d.Mkdir(d.Root, "e");
        d.Mkdir(a, "b", expect: Errno.EEXIST);
    }

    private static void Write(WorkloadDriver d)
    {
        ulong f = d.Create(d.Root, "f");
        d.Write(f, 0, 5000);                 // new blocks
        d.Write(f, 5000, 3000);              // extend into the tail block and a new one
        d.Write(f, 100, 300);                // overwrite in place
        d.Write(f, 16 * Bs + 7, 2000);       // beyond EOF: a hole between
        d.Write(f, 3 * Bs - 10, 6 * Bs);     // fills the hole, overwrites, crosses blocks
        d.Write(f, 20 * Bs, 40 * 1024);      // non-temporal path (>= 16 KiB)
        ulong g = d.Create(d.Root, "g");
        d.Fallocate(g, FallocateMode.Default, 0, 8 * Bs);
        d.Write(g, Bs + 100, 1000);          // into an unwritten extent (converted, rest zeroed)
        d.Write(g, 7 * Bs, 3 * Bs);          // unwritten then hole, extends
        d.Write(f, 0, 90 * 1024);            // large overwrite across written, hole and new blocks
    }

    private static void Unlink(WorkloadDriver d)
    {
        ulong a = d.Create(d.Root, "a");
        d.Write(a, 0, 10_000);
        d.SetXattr(a, "user.k", 100);
        d.Create(d.Root, "empty");
        d.Link(a, d.Root, "a2");
        ulong big = d.Create(d.Root, "big");
        d.Write(big, 0, 70 * 1024);
        d.SetXattr(big, "user.big", 9000);
        d.Unlink(d.Root, "a2");
        d.Unlink(d.Root, "a");
        d.Unlink(d.Root, "empty");
        d.Unlink(d.Root, "big");
        d.Unlink(d.Root, "nothing", expect: Errno.ENOENT);
    }

    private static void Rmdir(WorkloadDriver d)
    {
        ulong x = d.Mkdir(d.Root, "x");
        d.Mkdir(x, "y");
        ulong z = d.Mkdir(d.Root, "z");
        d.SetXattr(z, "user.z", 5000);
        d.Rmdir(d.Root, "x", expect: Errno.ENOTEMPTY);
        d.Rmdir(x, "y");
        d.Rmdir(d.Root, "x");
        d.Rmdir(d.Root, "z");
    }

    private static void Rename(WorkloadDriver d)
    {
        ulong dir1 = d.Mkdir(d.Root, "d1");
        ulong dir2 = d.Mkdir(d.Root, "d2");
        ulong a = d.Create(d.Root, "a");
        d.Write(a, 0, 3000);
        ulong b = d.Create(d.Root, "b");
        d.Write(b, 0, 9000);
        d.SetXattr(b, "user.b", 200);
        d.Rename(d.Root, "a", d.Root, "a1");                                   // plain
        d.Rename(d.Root, "a1", d.Root, "b");                                   // over an existing file (freed)
        ulong c = d.Create(d.Root, "c");
        d.Rename(d.Root, "c", d.Root, "b", RenameFlags.NoReplace, Errno.EEXIST);
        d.Rename(d.Root, "c", d.Root, "c2", RenameFlags.NoReplace);
        d.Rename(d.Root, "c2", d.Root, "b", RenameFlags.Exchange);              // file <-> file
        d.Rename(d.Root, "b", dir1, "moved");                                  // cross-directory file
        d.Rename(d.Root, "d2", dir1, "sub");                                   // cross-directory directory
        d.Rename(dir1, "sub", d.Root, "c2", RenameFlags.Exchange);              // directory <-> file across dirs
        ulong e = d.Mkdir(d.Root, "empty");
        d.Rename(d.Root, "c2", d.Root, "empty");                               // directory over an empty directory
        d.Link(c, dir2, "hard");
        d.Rename(dir2, "hard", dir1, "moved");                                 // a hard link over another file
        _ = e;
    }

    private static void Link(WorkloadDriver d)
    {
        ulong dir = d.Mkdir(d.Root, "d");
        ulong f = d.Create(d.Root, "f");
        d.Write(f, 0, 6000);
        d.Link(f, dir, "g");
        d.Link(f, d.Root, "h");
        d.Link(f, d.Root, "h", Errno.EEXIST);
        d.Unlink(d.Root, "f");
        d.Unlink(dir, "g");
    }

    private static void Symlink(WorkloadDriver d)
    {
        ulong dir = d.Mkdir(d.Root, "d");
        d.Symlink(d.Root, "s", "target");
        d.Symlink(dir, "long", new string('x', 3000));
        d.SetXattr(dir, "user.d", 10);
        d.Unlink(d.Root, "s");
    }

    private static void Truncate(WorkloadDriver d)
    {
        ulong f = d.Create(d.Root, "f");
        d.Write(f, 0, 20_000);
        d.Truncate(f, 5000);        // down, frees blocks, partial last block
        d.Truncate(f, 30_000);      // up: the old tail must read as zeros
        d.Truncate(f, 4096);        // down to a block boundary
        d.Truncate(f, 4000);        // inside a block
        d.Write(f, 8000, 100);      // the bytes between 4000 and 8000 must be zeros
        d.Truncate(f, 0);
        d.Truncate(f, 100);
    }

    private static void TruncateLong(WorkloadDriver d)
    {
        ulong f = d.Create(d.Root, "many");
        // Setup as one step (no crash points): 1030 one-block extents, every other block.
        const int Extents = 1030;
        var data = d.NewPattern(100, 0);
        d.Do($"write 100 bytes at every other block of {Extents}", fs =>
        {
            for (int i = 0; i < Extents; i++)
            {
                var e = fs.Write(f, 2L * i * Bs, data, PmemFs.Engine.Credentials.Root, out _);
                if (e != Errno.Ok) return e;
            }
            return Errno.Ok;
        }, m =>
        {
            var c = new byte[2L * (Extents - 1) * Bs + data.Length];
            for (int i = 0; i < Extents; i++) data.CopyTo(c, 2L * i * Bs);
            m.Nodes[f].Data = c;
        });
        d.StartCrashTesting();
        d.Truncate(f, 10 * Bs + 5);
        d.Truncate(f, 0);
    }

    private static void Fallocate(WorkloadDriver d, FallocateMode mode)
    {
        ulong f = d.Create(d.Root, "f");
        d.Write(f, 0, 6 * Bs + 100);
        d.Write(f, 10 * Bs, 2 * Bs);     // a hole at [6 * Bs + 100, 10 * Bs)
        d.Fallocate(f, mode, 100, 200);                  // inside one block
        d.Fallocate(f, mode, Bs - 10, 3 * Bs);           // unaligned, several blocks
        d.Fallocate(f, mode, 5 * Bs, 6 * Bs);            // across the hole
        d.Fallocate(f, mode, 11 * Bs, 5 * Bs + 77);      // across EOF
        ulong g = d.Create(d.Root, "g");
        d.Fallocate(g, mode, 0, 3 * Bs + 1);             // an empty file
    }

    private static void Xattr(WorkloadDriver d)
    {
        ulong f = d.Create(d.Root, "f");
        ulong dir = d.Mkdir(d.Root, "d");
        d.SetXattr(f, "user.a", 10);
        d.SetXattr(f, "user.b", 5000);                                   // multi-block blob
        d.SetXattr(f, "user.a", 20, XattrSetFlags.Replace);
        d.SetXattr(f, "user.a", 20, XattrSetFlags.Create, Errno.EEXIST);
        d.SetXattr(f, "user.c", 20, XattrSetFlags.Replace, Errno.ENODATA);
        d.SetXattr(dir, "user.x", 300);
        d.RemoveXattr(f, "user.b");
        d.RemoveXattr(f, "user.a");
        d.RemoveXattr(f, "user.a", Errno.ENODATA);
        d.SetXattr(dir, "user.x", 9000);
    }

    private static void Flags(WorkloadDriver d)
    {
        ulong dir = d.Mkdir(d.Root, "d");
        d.SetFlags(dir, InodeFlags.Dax, 0);
        ulong f = d.Create(dir, "f");                                    // inherits DAX
        d.Write(f, 0, 3 * Bs + 100);
        d.SetFlags(f, InodeFlags.Immutable | InodeFlags.NoDump, 0);
        d.Write(f, 0, 10, Errno.EPERM);
        d.Unlink(dir, "f", Errno.EPERM);
        d.SetFlags(f, InodeFlags.DaxImmutable, InodeFlags.Immutable);
        d.Truncate(f, 0, Errno.EPERM);
        d.MappedWriteback(f, 100, 2 * Bs);                               // in place, no metadata
        d.SetFlags(f, 0, InodeFlags.DaxImmutable);
        d.Truncate(f, Bs);
        d.SetFlags(f, InodeFlags.DaxImmutable, 0);
        d.SetFlags(f, 0, InodeFlags.Dax);                                // clears DAX_IMMUTABLE too
        ulong sub = d.Mkdir(dir, "sub");
        d.SetFlags(sub, InodeFlags.Append, 0);
        d.Create(sub, "g");
        d.Unlink(sub, "g", Errno.EPERM);
    }

    /// <summary>
    /// Direct access: a write lease, prepare-write, then stores into the returned physical ranges
    /// straight through the media plus a flush, as a holder does. Free space and unwritten blocks
    /// hold stale bytes first, so a missing zeroing shows as foreign data.
    /// </summary>
    private static void PrepareWrite(WorkloadDriver d)
    {
        const ulong H1 = 11, H2 = 12;
        ulong dir = d.Mkdir(d.Root, "d");
        d.SetFlags(dir, InodeFlags.Dax, 0);
        ulong old = d.Create(dir, "old");
        d.Write(old, 0, 48 * Bs);                                        // stale data for the free space
        d.Unlink(dir, "old");
        ulong f = d.Create(dir, "f");
        d.Write(f, 0, 5000);
        d.Truncate(f, 4500);                                             // old bytes stay past EOF in block 1
        d.Fallocate(f, FallocateMode.KeepSize, 8 * Bs, 8 * Bs);          // unwritten, past EOF
        d.WriteLease(f, H1);
        d.PrepareWrite(f, H1, 2 * Bs, 2 * Bs, PrepareWriteFlags.ExtendSize); // a hole past EOF; the old tail becomes zeros
        d.StoreDirect(f, 2 * Bs + 10, 3000);
        d.PrepareWrite(f, H1, 6 * Bs, 4 * Bs, PrepareWriteFlags.ExtendSize); // hole then unwritten, leaves a hole before it
        d.StoreDirect(f, 6 * Bs, 4 * Bs);
        d.PrepareWrite(f, H1, 0, 2 * Bs);                                // written already: no transaction
        d.StoreDirect(f, 100, 200);                                      // in place
        d.PrepareWrite(f, H1, 12 * Bs, Bs, expect: Errno.ENXIO);         // past EOF without ExtendSize
        ulong g = d.Create(dir, "g");
        d.Fallocate(g, FallocateMode.Default, 0, 8 * Bs);                // unwritten inside EOF
        d.PrepareWrite(g, H1, 0, Bs, expect: Errno.EACCES);              // H1 holds no lease on g
        d.WriteLease(g, H2);
        d.PrepareWrite(g, H2, Bs + 5, 2 * Bs);                           // converts blocks 1..3 only
        d.StoreDirect(g, Bs + 5, 2 * Bs);
        d.PrepareWrite(g, H2, 16 * Bs, 20 * Bs, PrepareWriteFlags.ExtendSize); // a gap stays a hole
        d.StoreDirect(g, 16 * Bs, 20 * Bs);
    }

    /// <summary>
    /// The log ring's end: setup (no crash points) fills the ring with create+unlink pairs until
    /// the head is a few transactions short of the end; the crash-tested operations then cross
    /// it, so one commit finds no room, the header moves the tail, and it is written at offset 0.
    /// </summary>
    private static void LogWrap(WorkloadDriver d)
    {
        ulong dir = d.Mkdir(d.Root, "d");
        long logBytes = d.Fs.Geometry.LogBytes;
        d.Do("fill the log ring with create+unlink of d/tmp", fs =>
        {
            var name = WorkloadDriver.N("tmp");
            while (fs.LogHeadOffset < logBytes - 5 * 1024)
            {
                var e = fs.Create(dir, name, 0x81A4, PmemFs.Engine.Credentials.Root, out _);
                if (e == Errno.Ok) e = fs.Unlink(dir, name);
                if (e != Errno.Ok) return e;
            }
            return Errno.Ok;
        }, null);
        d.StartCrashTesting();
        long checkpoints = d.Fs.LogCheckpoints;
        ulong f = d.Create(dir, "f");
        d.Write(f, 0, 3000);
        d.SetXattr(f, "user.a", 600);
        ulong g = d.Create(d.Root, "g");
        d.Rename(d.Root, "g", dir, "g2");
        d.Write(g, 0, 9000);
        d.SetXattr(dir, "user.d", 900);
        d.Link(f, d.Root, "f2");
        d.Unlink(dir, "f");
        d.Truncate(g, 100);
        ulong h = d.Create(dir, "h");
        d.Write(h, 0, 5000);
        if (d.Fs.LogCheckpoints == checkpoints || d.Fs.LogHeadOffset > logBytes / 2)
            throw new WorkloadException($"log-wrap did not cross the end of the ring (head at {d.Fs.LogHeadOffset} of {logBytes})");
    }

    /// <summary>Random operations chosen from the model (seeded); errors are allowed when the model says so.</summary>
    private static void Clone(WorkloadDriver d)
    {
        ulong a = d.Create(d.Root, "a");
        d.Write(a, 0, 12 * Bs + 300);
        ulong b = d.Create(d.Root, "b");
        d.Clone(a, 0, b, 0, 0);                        // whole file, unaligned tail copied
        ulong c = d.Create(d.Root, "c");
        d.Write(c, 0, 6 * Bs);
        d.Clone(a, 2 * Bs, c, Bs, 4 * Bs);             // onto existing data
        d.Clone(b, 0, c, 20 * Bs, 3 * Bs);             // past EOF: a hole between, a third owner
        d.Clone(a, 0, a, 16 * Bs, 4 * Bs);             // within one file
        d.Clone(a, 0, a, 2 * Bs, 4 * Bs, expect: Errno.EINVAL); // overlapping
        d.Clone(a, 100, b, 0, Bs, expect: Errno.EINVAL);         // unaligned
        d.Unlink(d.Root, "a");
        d.Unlink(d.Root, "b");
        d.Truncate(c, 0);
    }

    private static void CopyOnWrite(WorkloadDriver d)
    {
        ulong a = d.Create(d.Root, "a");
        d.Write(a, 0, 24 * Bs);
        ulong b = d.Create(d.Root, "b");
        d.Clone(a, 0, b, 0, 0);
        d.Write(b, 3 * Bs, 2 * Bs);                    // whole blocks
        d.Write(a, 6 * Bs + 100, 300);                 // inside one block
        d.Write(b, 8 * Bs - 50, 100);                  // across a block boundary
        d.Write(a, 23 * Bs + 10, 2 * Bs);              // across EOF
        d.Truncate(b, 10 * Bs + 77);                   // into a shared block
        d.Truncate(b, 12 * Bs);                        // grow: the old tail reads as zeros
        d.Fallocate(a, FallocateMode.PunchHole | FallocateMode.KeepSize, 9 * Bs + 5, 2 * Bs);
        d.Fallocate(b, FallocateMode.ZeroRange, Bs, 2 * Bs);
        d.Write(b, Bs + 10, 20);                       // into the zeroed (unwritten) blocks
        d.Fallocate(a, FallocateMode.ZeroRange | FallocateMode.KeepSize, 12 * Bs + 1, 3 * Bs);
        d.Fallocate(b, FallocateMode.Default, 0, 16 * Bs);
        d.Unlink(d.Root, "a");
        // prepare-write of a shared range gives the holder's file its own blocks; direct stores then reach it only.
        const ulong H = 21;
        ulong dir = d.Mkdir(d.Root, "dax");
        d.SetFlags(dir, InodeFlags.Dax, 0);
        ulong p = d.Create(dir, "p");
        d.Write(p, 0, 8 * Bs);
        ulong q = d.Create(dir, "q");
        d.Clone(p, 0, q, 0, 0);
        d.WriteLease(p, H);
        d.PrepareWrite(p, H, 2 * Bs, 3 * Bs);
        d.StoreDirect(p, 2 * Bs + 100, 2 * Bs);
    }

    public static void Mix(WorkloadDriver d, int steps)
    {
        var rng = d.Rng;
        for (int step = 0; step < steps; step++)
        {
            var m = d.Model;
            var dirs = m.Nodes.Where(n => n.Value.Kind == NodeKind.Directory).Select(n => n.Key).ToList();
            var files = m.Nodes.Where(n => n.Value.Kind == NodeKind.File).Select(n => n.Key).ToList();
            ulong dir = dirs[rng.Next(dirs.Count)];
            string name = $"n{rng.Next(12)}";
            bool exists = m.Nodes[dir].Entries!.ContainsKey(name);
            int op = rng.Next(108); // 100..107: clone
            if (op < 12 || files.Count == 0)
            {
                if (m.Nodes.Count >= 60) continue;
                d.Create(dir, name, exists ? Errno.EEXIST : Errno.Ok);
                continue;
            }
            if (op < 17)
            {
                if (m.Nodes.Count >= 60) continue;
                d.Mkdir(dir, name, exists ? Errno.EEXIST : Errno.Ok);
                continue;
            }
            if (op < 20)
            {
                if (m.Nodes.Count >= 60) continue;
                d.Symlink(dir, name, new string('s', 1 + rng.Next(200)), exists ? Errno.EEXIST : Errno.Ok);
                continue;
            }
            ulong f = files[rng.Next(files.Count)];
            long size = m.Nodes[f].Data.Length;
            if (op < 42)
            {
                long off = rng.Next(3) == 0 ? size : rng.Next((int)Math.Min(size + 3 * Bs, 200_000));
                d.Write(f, off, 1 + rng.Next(rng.Next(2) == 0 ? 3000 : 24_000));
                continue;
            }
            if (op < 49)
            {
                d.Truncate(f, rng.Next((int)Math.Min(size * 2 + 1000, 200_000)));
                continue;
            }
            if (op < 59)
            {
                var mode = rng.Next(5) switch
                {
                    0 => FallocateMode.Default,
                    1 => FallocateMode.KeepSize,
                    2 => FallocateMode.PunchHole | FallocateMode.KeepSize,
                    3 => FallocateMode.ZeroRange,
                    _ => FallocateMode.ZeroRange | FallocateMode.KeepSize,
                };
                d.Fallocate(f, mode, rng.Next((int)Math.Min(size + 2 * Bs, 200_000)), 1 + rng.Next(30_000));
                continue;
            }
            if (op < 69)
            {
                var names = m.Nodes[dir].Entries!.Keys.ToList();
                if (names.Count == 0) continue;
                string victim = names[rng.Next(names.Count)];
                var node = m.Nodes[m.Nodes[dir].Entries![victim]];
                if (node.Kind == NodeKind.Directory) d.Rmdir(dir, victim, node.Entries!.Count > 0 ? Errno.ENOTEMPTY : Errno.Ok);
                else d.Unlink(dir, victim);
                continue;
            }
            if (op < 82)
            {
                var names = m.Nodes[dir].Entries!.Keys.ToList();
                if (names.Count == 0) continue;
                string from = names[rng.Next(names.Count)];
                ulong to = dirs[rng.Next(dirs.Count)];
                var flags = rng.Next(5) switch { 0 => RenameFlags.NoReplace, 1 => RenameFlags.Exchange, _ => RenameFlags.None };
                // The engine decides the errno (loops, ENOTEMPTY, EISDIR...); the model follows on success.
                d.Rename(dir, from, to, name, flags, expect: WorkloadDriver.AnyResult);
                continue;
            }
            if (op < 88)
            {
                d.Link(f, dir, name, exists ? Errno.EEXIST : Errno.Ok);
                continue;
            }
            if (op >= 100)
            {
                // A reflink between two files (or within one): whole blocks, or to the source's end.
                ulong g = files[rng.Next(files.Count)];
                long srcOff = rng.Next((int)(size / Bs) + 1) * (long)Bs;
                long dstOff = rng.Next((int)(m.Nodes[g].Data.Length / Bs) + 3) * (long)Bs;
                long len = rng.Next(3) == 0 ? 0 : (1 + rng.Next(12)) * (long)Bs;
                // The engine decides the errno (overlap, EOF rule, flags); the model follows on success.
                d.Clone(f, srcOff, g, dstOff, len, expect: WorkloadDriver.AnyResult);
                continue;
            }
            if (op < 96)
            {
                var target = rng.Next(4) == 0 ? dir : f;
                d.SetXattr(target, $"user.x{rng.Next(3)}", rng.Next(rng.Next(4) == 0 ? 9000 : 300));
                continue;
            }
            {
                var xs = m.Nodes[f].Xattrs.Keys.ToList();
                if (xs.Count == 0) continue;
                d.RemoveXattr(f, xs[rng.Next(xs.Count)]);
            }
        }
    }
}
