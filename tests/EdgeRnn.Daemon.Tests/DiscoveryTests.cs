using System.Text.Json;
using System.Text.RegularExpressions;

namespace EdgeRnn.Daemon.Tests;

/// <summary>
/// issue 15: Home Assistant discovery checked against HA's documented MQTT sensor schema
/// (https://www.home-assistant.io/integrations/sensor.mqtt/ and /integrations/mqtt/#discovery-messages, 2026).
/// </summary>
public class DiscoveryTests
{
    // Every configuration variable the MQTT sensor documents (plus the discovery-only origin block).
    private static readonly HashSet<string> SensorKeys =
    [
        "availability", "availability_mode", "availability_template", "availability_topic", "default_entity_id", "device",
        "device_class", "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after", "force_update",
        "icon", "json_attributes_template", "json_attributes_topic", "last_reset_value_template", "name", "options",
        "payload_available", "payload_not_available", "platform", "qos", "state_class", "state_topic",
        "suggested_display_precision", "unique_id", "unit_of_measurement", "value_template", "origin",
    ];
    private static readonly HashSet<string> DeviceKeys =
        ["configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"];
    private static readonly HashSet<string> OriginKeys = ["name", "sw_version", "support_url"];
    private static readonly string[] Deprecated = ["object_id"];
    private static readonly Regex IdChars = new("^[a-zA-Z0-9_-]+$");

    [Fact]
    public void Discovery_payloads_follow_the_documented_mqtt_sensor_schema()
    {
        var streams = new[]
        {
            new DiscoveryStream("outdoor temp (°C)", "edgernn/pi.lan/outdoor/forecast", ["state", "hum.idity"], "ha_temp", "1",
                TimeSpan.FromMinutes(5), "°C", "temperature"),
            new DiscoveryStream("boiler", "edgernn/pi.lan/boiler/forecast", ["OT"], "ett", "2"),
        };
        var msgs = HaDiscovery.Build("homeassistant", "pi.lan", "edgernn/pi.lan/status", streams).ToList();
        Assert.Equal(2 * 2 + 1 * 2, msgs.Count); // next step and horizon end, per target
        var ids = new HashSet<string>();
        foreach (var (topic, cfg) in msgs)
        {
            using var doc = JsonDocument.Parse(JsonSerializer.SerializeToUtf8Bytes(cfg, DaemonJsonContext.Default.HaSensorConfig));
            var root = doc.RootElement;
            foreach (var p in root.EnumerateObject())
            {
                Assert.Contains(p.Name, SensorKeys);
                Assert.DoesNotContain(p.Name, Deprecated);
            }
            foreach (var p in root.GetProperty("device").EnumerateObject()) Assert.Contains(p.Name, DeviceKeys);
            foreach (var p in root.GetProperty("origin").EnumerateObject()) Assert.Contains(p.Name, OriginKeys);
            Assert.False(string.IsNullOrEmpty(root.GetProperty("origin").GetProperty("name").GetString()));
            Assert.False(string.IsNullOrEmpty(root.GetProperty("state_topic").GetString())); // required
            string uid = root.GetProperty("unique_id").GetString()!;
            Assert.Matches(IdChars, uid);
            Assert.True(ids.Add(uid), $"unique_id {uid} used twice");
            Assert.Equal("sensor." + uid.ToLowerInvariant(), root.GetProperty("default_entity_id").GetString());
            Assert.Matches(new Regex("^sensor\\.[a-z0-9_]+$"), root.GetProperty("default_entity_id").GetString()!);
            // discovery topic: <prefix>/sensor/<node/object id from [a-zA-Z0-9_-]>/config
            string[] levels = topic.Split('/');
            Assert.Equal(["homeassistant", "sensor"], levels[..2]);
            Assert.Equal("config", levels[^1]);
            Assert.All(levels[2..^1], l => Assert.Matches(IdChars, l));
            Assert.All(root.GetProperty("device").GetProperty("identifiers").EnumerateArray(), i => Assert.Matches(IdChars, i.GetString()!));
        }
        var outdoor = msgs.Where(m => m.Config.StateTopic.Contains("outdoor")).Select(m => m.Config).ToList();
        Assert.All(outdoor, c => Assert.Equal(("°C", "temperature", 900), (c.UnitOfMeasurement, c.DeviceClass, c.ExpireAfter)));
        Assert.Contains(outdoor, c => c.ValueTemplate.Contains("['values'][0][1]") && c.Name.Contains("next step"));
        Assert.Contains(outdoor, c => c.ValueTemplate.Contains("['values'][-1][0]") && c.Name.Contains("horizon end"));
        Assert.All(outdoor, c => Assert.Contains("'forecast'", c.JsonAttributesTemplate));
        var boiler = msgs.Single(m => m.Config.UniqueId.EndsWith("boiler_OT_next", StringComparison.Ordinal)).Config;
        Assert.Null(boiler.UnitOfMeasurement);
        Assert.Null(boiler.ExpireAfter);
        using var b = JsonDocument.Parse(JsonSerializer.SerializeToUtf8Bytes(boiler, DaemonJsonContext.Default.HaSensorConfig));
        Assert.False(b.RootElement.TryGetProperty("unit_of_measurement", out _)); // absent, not null
    }
}
