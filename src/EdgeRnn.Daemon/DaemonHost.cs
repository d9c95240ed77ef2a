using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace EdgeRnn.Daemon;

/// <summary>Builds the Generic Host for `edgernn run`: console logs (journal-friendly under systemd), Type=notify lifetime.</summary>
public static class DaemonHost
{
    public static IHost Build(DaemonSettings settings, DaemonFactories factories)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(settings.LogLevel);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = SystemdHelpers.IsSystemdService() ? null : "HH:mm:ss.fff "; });
        // under systemd: READY=1 once started, STOPPING=1 on SIGTERM, journal-formatted console logs
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.DrainTimeout + TimeSpan.FromSeconds(15));
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(factories);
        builder.Services.AddHostedService(sp => new DaemonService(settings, factories,
            sp.GetRequiredService<ILogger<DaemonService>>(), sp.GetRequiredService<IHostApplicationLifetime>(), sp.GetService<ISystemdNotifier>()));
        return builder.Build();
    }
}
