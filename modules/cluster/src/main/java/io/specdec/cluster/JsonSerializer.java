package io.specdec.cluster;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

import java.io.IOException;
import java.io.NotSerializableException;
import java.nio.charset.StandardCharsets;

/**
 * Serializes {@link ClusterMessage} records as JSON with the project's own Jackson (Pekko's Jackson module would
 * pin another Jackson version). The manifest is the record's class name; actor refs travel as their path.
 * Only classes in this package are accepted on the way in.
 */
public final class JsonSerializer extends SerializerWithStringManifest {
    private final ObjectMapper mapper;

    public JsonSerializer(ExtendedActorSystem system) {
        ActorRefResolver resolver = ActorRefResolver.get(Adapter.toTyped(system));
        SimpleModule refs = new SimpleModule("pekko-typed-refs");
        @SuppressWarnings({"rawtypes", "unchecked"})
        Class<ActorRef<?>> refClass = (Class) ActorRef.class;
        refs.addSerializer(refClass, new StdSerializer<>(refClass) {
            @Override
            public void serialize(ActorRef<?> ref, JsonGenerator gen, SerializerProvider provider) throws IOException {
                gen.writeString(resolver.toSerializationFormat(ref));
            }
        });
        refs.addDeserializer(refClass, new StdDeserializer<>(refClass) {
            @Override
            public ActorRef<?> deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
                return resolver.resolveActorRef(p.getValueAsString());
            }
        });
        this.mapper = new ObjectMapper().registerModule(refs)
                .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    }

    @Override public int identifier() { return 74_920_311; }

    @Override public String manifest(Object o) { return o.getClass().getName(); }

    @Override
    public byte[] toBinary(Object o) {
        try {
            return mapper.writeValueAsBytes(o);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot serialize " + o.getClass().getName() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        if (!manifest.startsWith("io.specdec.cluster.")) {
            throw new NotSerializableException("refusing to deserialize " + manifest + ": not a specdec cluster message");
        }
        try {
            return mapper.readValue(bytes, Class.forName(manifest));
        } catch (ClassNotFoundException | IOException e) {
            throw new NotSerializableException("cannot deserialize " + manifest + ": " + e.getMessage() + " in "
                    + new String(bytes, 0, Math.min(bytes.length, 200), StandardCharsets.UTF_8));
        }
    }
}
