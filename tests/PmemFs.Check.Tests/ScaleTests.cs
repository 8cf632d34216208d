using System.Diagnostics;
using Xunit.Abstractions;

namespace PmemFs.Check.Tests;

/// <summary>A full-ish image is clean; the time is printed for comparison, never asserted.</summary>
public sealed class ScaleTests(ITestOutputHelper output)
{
    [Fact]
    public void ImageWithManyFilesIsClean()
    {
        const int dirs = 100, filesPerDir = 100;
        using var img = new TestImage(256L << 20);
        var block = TestImage.Pattern(4096, 1);
        for (int d = 0; d < dirs; d++)
        {
            ulong dir = img.Dir(TestImage.Root, $"d{d}");
            for (int f = 0; f < filesPerDir; f++)
            {
                ulong ino = img.File(dir, $"f{f}");
                if (f % 10 == 0) img.Write(ino, 0, block);
            }
        }
        img.Unmount();

        var sw = Stopwatch.StartNew();
        var report = img.Check();
        sw.Stop();
        ReportAssert.Clean(report);
        Assert.Equal(1 + dirs + dirs * filesPerDir, report.Stats.Inodes);
        Assert.Equal(dirs * filesPerDir / 10, report.Stats.Extents);
        output.WriteLine($"fsck of {report.Stats.Inodes} inodes, {report.Stats.Dirents} dirents, {report.Stats.Extents} extents on a {img.Media.Size >> 20} MiB image: {sw.Elapsed.TotalMilliseconds:F0} ms");
    }
}
