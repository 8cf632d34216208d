using System.Text;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using Xunit.Abstractions;

namespace PmemFs.Fuzz.Tests;

/// <summary>
/// Availability, not only safety (issue 13): the new user's experiment. 1 to 8 random bytes
/// written into the first 12 MB of a populated 64 MB image (its metadata area and the start of
/// its data area). Every image whose superblock copies and journal were not hit must mount
/// (read-write, or read-only), every file of such an image that owns no damaged byte
/// (<see cref="DamageOwners"/>) must read back exactly, no file may ever read back bytes that
/// are not its own, and the share of files that still read back exactly is measured and printed
/// (docs/fuzzing.md has the numbers of a long run; PMEMFS_AVAILABILITY_IMAGES sets how many images).
/// </summary>
public class AvailabilityTests(ITestOutputHelper output)
{
    private const long Size = 64L << 20;
    private static readonly Lazy<(byte[] Image, Dictionary<string, (ulong Ino, byte[] Data)> Files)> Base = new(Build);
    private static readonly Lazy<ImageMap> Map = new(() => ImageMap.Parse(Base.Value.Image));

    private static (byte[], Dictionary<string, (ulong, byte[])>) Build()
    {
        using var media = new MemoryMedia(Size);
        Mkfs.Format(media, new MkfsOptions());
        var files = new Dictionary<string, (ulong, byte[])>();
        using (var fs = FileSystem.Mount(media))
        {
            BaseImages.Populate(fs);
            var rng = new Random(64);
            for (int d = 0; d < 8; d++)
            {
                Check(fs.MakeDirectory(FormatConstants.RootIno, N($"dir{d}"), 0x1ED, Credentials.Root, out var dir));
                for (int f = 0; f < 12; f++)
                {
                    Check(fs.Create(dir.Ino, N($"file{f}"), 0x81A4, Credentials.Root, out var file));
                    var data = new byte[rng.Next(1, 200_000)];
                    rng.NextBytes(data);
                    Check(fs.Write(file.Ino, 0, data, Credentials.Root, out _));
                    files[$"/dir{d}/file{f}"] = (file.Ino, data);
                }
            }
        }
        return (media.Read(0, (int)Size).ToArray(), files);
    }

    private static void Check(Errno e)
    {
        if (e.Failed) throw new InvalidOperationException($"building the image: {e}");
    }

    private static byte[] N(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>The inode of the directory holding <paramref name="path"/> (its files are one directory deep).</summary>
    private static ulong DirOf(FileSystem fs, string path) => Resolve(fs, path[..path.LastIndexOf('/')], out _);

    private static ulong Resolve(FileSystem fs, string path, out Errno error)
    {
        ulong ino = FormatConstants.RootIno;
        error = Errno.Ok;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            error = fs.Lookup(ino, N(part), out var a);
            if (error.Failed) return 0;
            ino = a.Ino;
        }
        return ino;
    }

    [Fact]
    public void RandomBytesInTheMetadataCostOnlyWhatTheyHit()
    {
        var (image, files) = Base.Value;
        using var pristineMedia = MemoryMedia.FromBytes(image);
        using var pristine = FileSystem.Mount(pristineMedia, new FileSystemOptions { ReadOnly = true });
        var rows = new ReverseMapOwner[16];
        int images = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_AVAILABILITY_IMAGES"), out int n) ? n : 60;
        Geometry g;
        using (var probe = MemoryMedia.FromBytes(image)) g = ImageReader.ReadSuperblock(probe, "base").Superblock.Geometry;
        long journalStart = g.JournalStart * FormatConstants.BlockSize, journalEnd = (g.JournalStart + g.JournalBlocks) * FormatConstants.BlockSize;
        int rw = 0, roOnly = 0, refused = 0, journalHit = 0, exact = 0, lost = 0, dataHits = 0, owners = 0;
        var refusals = new List<string>();
        for (int seed = 1; seed <= images; seed++)
        {
            var rng = new Random(seed);
            using var media = MemoryMedia.FromBytes(image);
            bool hitJournal = false;
            var dataHit = new HashSet<ulong>(); // files whose data bytes were changed: no file system can tell (no data checksums)
            int bytes = rng.Next(1, 9);
            for (int i = 0; i < bytes; i++)
            {
                long at = rng.NextInt64(0, 12L << 20);
                media.RawBytes(at, 1)[0] = (byte)rng.Next(256);
                hitJournal |= at >= journalStart && at < journalEnd;
                if (pristine.ReverseMap(at, 1, default, rows, out int count, out _).IsOk)
                    foreach (var r in rows.AsSpan(0, count)) if (r.Kind == ReverseMapKind.Data) dataHit.Add(r.Ino);
            }
            if (hitJournal) journalHit++;
            var (involved, intact) = DamageOwners.Of(image, media.Read(0, (int)Size), Map.Value, pristine);
            FileSystem? fs = null;
            bool readOnly = false;
            try { fs = FileSystem.Mount(media); }
            catch (ImageFormatException)
            {
                try { fs = FileSystem.Mount(media, new FileSystemOptions { ReadOnly = true }); readOnly = true; }
                catch (ImageFormatException e) { refusals.Add($"seed {seed}: {e.Message}"); }
            }
            if (fs is null)
            {
                refused++;
                Assert.False(intact, $"seed {seed}: an image whose superblocks and journal are intact was refused: {refusals[^1]}");
                lost += files.Count;
                continue;
            }
            using (fs)
            {
                if (readOnly) roOnly++; else rw++;
                foreach (var (path, (fileIno, data)) in files)
                {
                    if (dataHit.Contains(fileIno)) { dataHits++; continue; }
                    ulong ino = Resolve(fs, path, out var error);
                    bool mustRead = intact && !involved.Contains(fileIno) && !involved.Contains(FormatConstants.RootIno) && !involved.Contains(DirOf(pristine, path));
                    if (involved.Contains(fileIno)) owners++;
                    Assert.False(mustRead && ino != fileIno, $"seed {seed}: {path} owns no damaged byte but cannot be found ({error})");
                    if (ino == 0) { lost++; continue; }
                    var buf = new byte[data.Length];
                    var e = fs.Read(ino, 0, buf, out int got);
                    Assert.False(mustRead && e.Failed, $"seed {seed}: {path} owns no damaged byte but reads {e}");
                    if (e.Failed) { lost++; continue; }
                    // Safety: bytes that come back are the file's own.
                    Assert.True(got == data.Length && buf.AsSpan().SequenceEqual(data), $"seed {seed}: {path} read back bytes that are not its data");
                    exact++;
                }
            }
        }
        string table = $"images {images}: mounted read-write {rw}, read-only only {roOnly}, refused {refused} (journal hit in {journalHit}); " +
            $"files read back exactly {exact} of {exact + lost} ({100.0 * exact / (exact + lost):0.0}%), not counting {dataHits} whose data bytes were hit; {owners} files owned a damaged record";
        output.WriteLine(table);
        Console.WriteLine("availability: " + table);
        foreach (var r in refusals) output.WriteLine("  refused: " + r);
    }
}
