import { describeStackWiring } from "./wiring";

describeStackWiring("dev");
