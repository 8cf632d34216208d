using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

public class ConcurrencyTests
{
    [Fact]
    public void ParallelWritersCreatorsAndRenamersLeaveAConsistentTree()
    {
        using var t = new EngineFixture(size: 128L << 20, inodes: 8192);
        var fs = t.Fs;
        ulong shared = t.MakeDir(Root, "shared");
        const int threads = 4, perThread = 300;
        var expected = new byte[threads][];
        var errors = new List<string>();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, id =>
        {
            try
            {
                // Each thread: its own file (concurrent data + metadata commits), plus create/rename/unlink in a shared directory.
                Assert.Equal(Errno.Ok, fs.Create(Root, N($"own{id}"), RegularMode, Credentials.Root, out var own));
                var content = new byte[perThread * 1000];
                for (int i = 0; i < perThread; i++)
                {
                    var chunk = Pattern(1000, id * 100_000 + i);
                    chunk.CopyTo(content, i * 1000);
                    Assert.Equal(Errno.Ok, fs.Write(own.Ino, i * 1000L, chunk, Credentials.Root, out _));
                    Assert.Equal(Errno.Ok, fs.Create(shared, N($"t{id}-{i}"), RegularMode, Credentials.Root, out _));
                    Assert.Equal(Errno.Ok, fs.Rename(shared, N($"t{id}-{i}"), shared, N($"r{id}-{i}")));
                    if (i % 2 == 0) Assert.Equal(Errno.Ok, fs.Unlink(shared, N($"r{id}-{i}")));
                }
                expected[id] = content;
            }
            catch (Exception e)
            {
                lock (errors) errors.Add(e.ToString());
            }
        });
        Assert.Empty(errors);
        void CheckTree()
        {
            for (int id = 0; id < threads; id++) Assert.Equal(expected[id], t.ReadAll(t.LookupIno(Root, $"own{id}")));
            Assert.Equal(threads * perThread / 2, t.List(shared).Count);
        }
        CheckTree();   // the live file system
        t.Remount();
        CheckTree();   // and what reached the media
    }

    [Fact]
    public void ImageFileOnSharedMemorySurvivesReopen()
    {
        string path = $"/dev/shm/pmemfs-engine-{Guid.NewGuid():N}.img";
        try
        {
            var data = Pattern(123_456, 5);
            ulong ino;
            using (var media = PmemMedia.Create(path, 32L << 20))
            {
                Format.Mkfs.Format(media, new Format.MkfsOptions());
                using var fs = FileSystem.Mount(media);
                Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("d"), DirMode, Credentials.Root, out var d));
                Assert.Equal(Errno.Ok, fs.Create(d.Ino, N("f"), RegularMode, Credentials.Root, out var f));
                Assert.Equal(Errno.Ok, fs.Write(f.Ino, 0, data, Credentials.Root, out _));
                ino = f.Ino;
            }
            using (var media = PmemMedia.Open(path))
            using (var fs = FileSystem.Mount(media))
            {
                Assert.Equal(Errno.Ok, fs.Lookup(Root, N("d"), out var d));
                Assert.Equal(Errno.Ok, fs.Lookup(d.Ino, N("f"), out var f));
                Assert.Equal(ino, f.Ino);
                var buf = new byte[data.Length];
                Assert.Equal(Errno.Ok, fs.Read(ino, 0, buf, out int n));
                Assert.Equal(data, buf);
            }
        }
        finally { File.Delete(path); }
    }
}
